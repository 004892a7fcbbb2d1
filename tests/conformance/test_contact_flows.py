"""Contact flows deployed with boto3 exactly as to Amazon Connect (create_contact_flow with
flow-language JSON), then run: the customer's socket receives the flow's messages from the SYSTEM
participant. Also the wire shape of InvalidContactFlowException's `problems`."""

import json
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import ChatSocket, QUEUE_ID


def greeting_flow(text):
    return json.dumps({
        "Version": "2019-10-30",
        "StartAction": "greet",
        "Actions": [
            {"Identifier": "greet", "Type": "MessageParticipant", "Parameters": {"Text": text},
             "Transitions": {"NextAction": "queue", "Errors": [{"NextAction": "bye", "ErrorType": "NoMatchingError"}]}},
            {"Identifier": "queue", "Type": "UpdateContactTargetQueue", "Parameters": {"QueueId": QUEUE_ID},
             "Transitions": {"NextAction": "transfer", "Errors": [{"NextAction": "bye", "ErrorType": "NoMatchingError"}]}},
            {"Identifier": "transfer", "Type": "TransferContactToQueue", "Parameters": {},
             "Transitions": {"Errors": [{"NextAction": "bye", "ErrorType": "QueueAtCapacity"},
                                        {"NextAction": "bye", "ErrorType": "NoMatchingError"}]}},
            {"Identifier": "bye", "Type": "DisconnectParticipant", "Parameters": {}},
        ],
    })


def create(connect, switchboard, name, content, **extra):
    return connect.create_contact_flow(
        InstanceId=switchboard.instance_id, Name=name, Type="CONTACT_FLOW", Content=content, **extra
    )


def test_a_deployed_flow_greets_the_customer_from_the_system_participant(
    connect, switchboard, start_chat, connect_participant
):
    name = f"Greeting {uuid.uuid4()}"
    created = create(connect, switchboard, name, greeting_flow("Hello $.Attributes.firstName!"))
    flow_id = created["ContactFlowId"]
    assert created["ContactFlowArn"].endswith(f"/contact-flow/{flow_id}")
    assert len(created["FlowContentSha256"]) == 64

    chat = start_chat(ContactFlowId=created["ContactFlowArn"], Attributes={"firstName": "Kim"})
    connection = connect_participant(chat["ParticipantToken"])
    socket = ChatSocket(connection["Websocket"]["Url"]).subscribe()
    greeting = socket.wait_for(lambda item: item.get("Type") == "MESSAGE", "the flow's greeting")
    assert greeting["Content"] == "Hello Kim!"
    assert greeting["ParticipantRole"] == "SYSTEM"
    assert greeting["DisplayName"] == "SYSTEM_MESSAGE"
    assert greeting["ContentType"] == "text/plain"
    described = connect.describe_contact(InstanceId=switchboard.instance_id, ContactId=chat["ContactId"])
    assert described["Contact"]["QueueInfo"]["Id"] == QUEUE_ID

    connect.update_contact_flow_content(
        InstanceId=switchboard.instance_id, ContactFlowId=flow_id, Content=greeting_flow("Changed.")
    )
    connect.update_contact_flow_name(InstanceId=switchboard.instance_id, ContactFlowId=flow_id, Name=name + " v2")
    flow = connect.describe_contact_flow(InstanceId=switchboard.instance_id, ContactFlowId=flow_id)["ContactFlow"]
    assert flow["Name"] == name + " v2"
    assert json.loads(flow["Content"])["Actions"][0]["Parameters"]["Text"] == "Changed."
    assert flow["Status"] == "PUBLISHED" and flow["State"] == "ACTIVE" and flow["Type"] == "CONTACT_FLOW"
    summaries = connect.list_contact_flows(InstanceId=switchboard.instance_id)["ContactFlowSummaryList"]
    assert flow_id in [s["Id"] for s in summaries]

    connect.delete_contact_flow(InstanceId=switchboard.instance_id, ContactFlowId=flow_id)
    with pytest.raises(ClientError) as gone:
        connect.describe_contact_flow(InstanceId=switchboard.instance_id, ContactFlowId=flow_id)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_an_invalid_flow_is_refused_with_its_problems(connect, switchboard):
    broken = json.dumps({
        "Version": "2019-10-30",
        "StartAction": "play",
        "Actions": [{"Identifier": "play", "Type": "PlayPrompt", "Parameters": {},
                     "Transitions": {"NextAction": "missing"}}],
    })
    with pytest.raises(ClientError) as refused:
        create(connect, switchboard, f"Broken {uuid.uuid4()}", broken)
    response = refused.value.response
    assert response["Error"]["Code"] == "InvalidContactFlowException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    problems = [p["message"] for p in response["problems"]]
    assert any("PlayPrompt" in p for p in problems), problems
    assert any("missing" in p for p in problems), problems

    name = f"Taken {uuid.uuid4()}"
    create(connect, switchboard, name, greeting_flow("Hi"))
    with pytest.raises(ClientError) as duplicate:
        create(connect, switchboard, name, greeting_flow("Hi"))
    assert duplicate.value.response["Error"]["Code"] == "DuplicateResourceException"
    assert duplicate.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
