"""Quick connects made with boto3 exactly as on Amazon Connect (create_quick_connect with a
QueueConfig naming a QUEUE_TRANSFER flow), read back in the model's shapes, and the model's errors
for what Amazon refuses."""

import json
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import QUEUE_ID

TRANSFER_FLOW = json.dumps({
    "Version": "2019-10-30",
    "StartAction": "queue",
    "Actions": [
        {"Identifier": "queue", "Type": "TransferContactToQueue", "Parameters": {},
         "Transitions": {"Errors": [{"NextAction": "bye", "ErrorType": "QueueAtCapacity"},
                                    {"NextAction": "bye", "ErrorType": "NoMatchingError"}]}},
        {"Identifier": "bye", "Type": "DisconnectParticipant", "Parameters": {}},
    ],
})


def test_a_queue_quick_connect_is_created_described_listed_changed_and_deleted(connect, switchboard):
    instance = switchboard.instance_id
    flow = connect.create_contact_flow(
        InstanceId=instance, Name=f"Queue transfer {uuid.uuid4()}", Type="QUEUE_TRANSFER", Content=TRANSFER_FLOW
    )
    name = f"Support {uuid.uuid4()}"
    created = connect.create_quick_connect(
        InstanceId=instance,
        Name=name,
        Description="The support queue",
        QuickConnectConfig={
            "QuickConnectType": "QUEUE",
            "QueueConfig": {"QueueId": QUEUE_ID, "ContactFlowId": flow["ContactFlowId"]},
        },
        Tags={"team": "support"},
    )
    quick_id = created["QuickConnectId"]
    assert created["QuickConnectARN"].endswith(f"/transfer-destination/{quick_id}")

    described = connect.describe_quick_connect(InstanceId=instance, QuickConnectId=quick_id)["QuickConnect"]
    assert described["QuickConnectId"] == quick_id
    assert described["QuickConnectARN"] == created["QuickConnectARN"]
    assert described["Name"] == name
    assert described["Description"] == "The support queue"
    assert described["QuickConnectConfig"] == {
        "QuickConnectType": "QUEUE",
        "QueueConfig": {"QueueId": QUEUE_ID, "ContactFlowId": flow["ContactFlowId"]},
    }
    assert described["Tags"] == {"team": "support"}
    assert described["LastModifiedRegion"] == switchboard.region

    listed = connect.list_quick_connects(InstanceId=instance, QuickConnectTypes=["QUEUE"])
    summary = next(q for q in listed["QuickConnectSummaryList"] if q["Id"] == quick_id)
    assert summary["Arn"] == created["QuickConnectARN"]
    assert summary["QuickConnectType"] == "QUEUE"
    assert not [
        q for q in connect.list_quick_connects(InstanceId=instance, QuickConnectTypes=["USER"])["QuickConnectSummaryList"]
        if q["Id"] == quick_id
    ]

    phone = {"QuickConnectType": "PHONE_NUMBER", "PhoneConfig": {"PhoneNumber": "+14155550100"}}
    connect.update_quick_connect_config(InstanceId=instance, QuickConnectId=quick_id, QuickConnectConfig=phone)
    connect.update_quick_connect_name(InstanceId=instance, QuickConnectId=quick_id, Description="A phone")
    described = connect.describe_quick_connect(InstanceId=instance, QuickConnectId=created["QuickConnectARN"])
    assert described["QuickConnect"]["QuickConnectConfig"] == phone
    assert described["QuickConnect"]["Description"] == "A phone"

    connect.delete_quick_connect(InstanceId=instance, QuickConnectId=quick_id)
    with pytest.raises(ClientError) as gone:
        connect.describe_quick_connect(InstanceId=instance, QuickConnectId=quick_id)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"


@pytest.mark.parametrize(
    "config, code",
    [
        ({"QuickConnectType": "QUEUE", "QueueConfig": {"QueueId": "no-such-queue", "ContactFlowId": "x"}},
         "ResourceNotFoundException"),
        ({"QuickConnectType": "QUEUE", "QueueConfig": {"QueueId": QUEUE_ID, "ContactFlowId": "no-such-flow"}},
         "ResourceNotFoundException"),
        ({"QuickConnectType": "USER", "PhoneConfig": {"PhoneNumber": "+14155550100"}}, "InvalidParameterException"),
        ({"QuickConnectType": "PHONE_NUMBER", "PhoneConfig": {"PhoneNumber": "0800 123"}}, "InvalidParameterException"),
    ],
)
def test_a_quick_connect_to_nowhere_is_refused_in_the_model_error_shape(connect, switchboard, config, code):
    with pytest.raises(ClientError) as refused:
        connect.create_quick_connect(
            InstanceId=switchboard.instance_id, Name=f"Bad {uuid.uuid4()}", QuickConnectConfig=config
        )
    error = refused.value.response["Error"]
    assert error["Code"] == code
    assert error["Message"]


def test_quick_connects_are_associated_with_a_queue_and_listed_for_it(connect, switchboard):
    instance = switchboard.instance_id
    flow = connect.create_contact_flow(
        InstanceId=instance, Name=f"Queue transfer {uuid.uuid4()}", Type="QUEUE_TRANSFER", Content=TRANSFER_FLOW
    )
    created = connect.create_quick_connect(
        InstanceId=instance,
        Name=f"Back to support {uuid.uuid4()}",
        QuickConnectConfig={
            "QuickConnectType": "QUEUE",
            "QueueConfig": {"QueueId": QUEUE_ID, "ContactFlowId": flow["ContactFlowId"]},
        },
    )
    connect.associate_queue_quick_connects(
        InstanceId=instance, QueueId=QUEUE_ID, QuickConnectIds=[created["QuickConnectARN"]]
    )
    listed = connect.list_queue_quick_connects(InstanceId=instance, QueueId=QUEUE_ID)["QuickConnectSummaryList"]
    assert [q["Id"] for q in listed if q["Id"] == created["QuickConnectId"]] == [created["QuickConnectId"]]
    connect.disassociate_queue_quick_connects(
        InstanceId=instance, QueueId=QUEUE_ID, QuickConnectIds=[created["QuickConnectId"]]
    )
    listed = connect.list_queue_quick_connects(InstanceId=instance, QueueId=QUEUE_ID)["QuickConnectSummaryList"]
    assert created["QuickConnectId"] not in [q["Id"] for q in listed]
    with pytest.raises(ClientError) as refused:
        connect.associate_queue_quick_connects(
            InstanceId=instance, QueueId="no-such-queue", QuickConnectIds=[created["QuickConnectId"]]
        )
    assert refused.value.response["Error"]["Code"] == "ResourceNotFoundException"
