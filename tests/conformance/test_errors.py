"""Errors as boto3 sees them: the modeled error code, the HTTP status, and idempotency.

boto3 validates some parameters itself (e.g. minimums); where a test needs the server to see an
out-of-range value, it uses a client with `parameter_validation=False`.
"""

import json
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import READ, TYPING, make_client


def expect_error(call, code, status, **params):
    """Calls an operation that must fail with `code` and HTTP `status`; returns the error response."""
    with pytest.raises(ClientError) as raised:
        call(**params)
    response = raised.value.response
    assert response["Error"]["Code"] == code, response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status, response
    assert response["Error"].get("Message"), f"error without a message: {response}"
    return response


@pytest.fixture(scope="module")
def unvalidated_connect(switchboard):
    """A connect client that sends whatever it is given."""
    return make_client(switchboard, "connect", parameter_validation=False)


def chat_request(switchboard, **overrides):
    request = {
        "InstanceId": switchboard.instance_id,
        "ContactFlowId": switchboard.contact_flow_id,
        "ParticipantDetails": {"DisplayName": "Customer"},
    }
    request.update(overrides)
    return request


# ---- connect: StartChatContact -----------------------------------------------------------


def test_unknown_instance_is_resource_not_found(connect, switchboard):
    expect_error(
        connect.start_chat_contact, "ResourceNotFoundException", 404,
        **chat_request(switchboard, InstanceId="no-such-instance"),
    )


def test_unknown_contact_flow_is_resource_not_found(connect, switchboard):
    expect_error(
        connect.start_chat_contact, "ResourceNotFoundException", 404,
        **chat_request(switchboard, ContactFlowId="no-such-flow"),
    )


@pytest.mark.parametrize("minutes", [59, 10081])
def test_chat_duration_out_of_range_is_invalid_parameter(unvalidated_connect, switchboard, minutes):
    expect_error(
        unvalidated_connect.start_chat_contact, "InvalidParameterException", 400,
        **chat_request(switchboard, ChatDurationInMinutes=minutes),
    )


@pytest.mark.parametrize("minutes", [60, 10080])
def test_chat_duration_bounds_are_accepted(connect, switchboard, minutes):
    assert connect.start_chat_contact(**chat_request(switchboard, ChatDurationInMinutes=minutes))["ContactId"]


def test_supported_content_types_must_include_text_plain(connect, switchboard):
    expect_error(
        connect.start_chat_contact, "InvalidRequestException", 400,
        **chat_request(switchboard, SupportedMessagingContentTypes=["text/markdown"]),
    )


def test_start_chat_client_token_is_idempotent(connect, switchboard):
    token = str(uuid.uuid4())
    first = connect.start_chat_contact(**chat_request(switchboard, ClientToken=token))
    again = connect.start_chat_contact(**chat_request(switchboard, ClientToken=token))
    assert again["ContactId"] == first["ContactId"]
    assert again["ParticipantId"] == first["ParticipantId"]
    other = connect.start_chat_contact(**chat_request(switchboard, ClientToken=str(uuid.uuid4())))
    assert other["ContactId"] != first["ContactId"]


# ---- connect: other operations -----------------------------------------------------------


def test_stop_unknown_contact_is_contact_not_found(connect, switchboard):
    expect_error(
        connect.stop_contact, "ContactNotFoundException", 410,
        InstanceId=switchboard.instance_id, ContactId=str(uuid.uuid4()),
    )


def test_unimplemented_operation_is_not_implemented(connect, switchboard):
    # Phone numbers belong to voice, which this chat server will not have.
    response = expect_error(connect.list_phone_numbers, "NotImplementedException", 501, InstanceId=switchboard.instance_id)
    assert "ListPhoneNumbers" in response["Error"]["Message"]


def test_list_queues_answers_in_the_model_shape(connect, switchboard):
    queues = connect.list_queues(InstanceId=switchboard.instance_id, QueueTypes=["STANDARD"])
    assert [q["Id"] for q in queues["QueueSummaryList"]] == [switchboard.queue_id]
    assert queues["QueueSummaryList"][0]["Arn"].endswith(f"/queue/{switchboard.queue_id}")
    expect_error(
        connect.list_queues, "InvalidParameterException", 400,
        InstanceId=switchboard.instance_id, MaxResults=1, NextToken="not-a-token",
    )


def test_contact_flows_are_listed_and_described_in_the_model_shape(connect, switchboard):
    flows = connect.list_contact_flows(InstanceId=switchboard.instance_id, ContactFlowTypes=["CONTACT_FLOW"])
    summary = flows["ContactFlowSummaryList"][0]
    assert summary["Id"] == switchboard.contact_flow_id
    assert summary["ContactFlowType"] == "CONTACT_FLOW"
    assert summary["ContactFlowStatus"] == "PUBLISHED"
    described = connect.describe_contact_flow(InstanceId=switchboard.instance_id, ContactFlowId=summary["Arn"])
    content = json.loads(described["ContactFlow"]["Content"])
    assert content["Version"] == "2019-10-30"
    assert {a["Type"] for a in content["Actions"]} >= {"UpdateContactTargetQueue", "TransferContactToQueue"}
    expect_error(
        connect.describe_contact_flow, "ResourceNotFoundException", 404,
        InstanceId=switchboard.instance_id, ContactFlowId="no-such-flow",
    )


# ---- connect: ids and ARNs --------------------------------------------------------------------

ACCOUNT = "123456789012"


def instance_arn(switchboard, region=None, account=ACCOUNT):
    return f"arn:aws:connect:{region or switchboard.region}:{account}:instance/{switchboard.instance_id}"


def test_an_instance_arn_of_another_region_or_account_is_access_denied(connect, switchboard):
    for arn in (
        instance_arn(switchboard, region="us-west-2"),
        instance_arn(switchboard, account="999999999999"),
    ):
        response = expect_error(
            connect.start_chat_contact, "AccessDeniedException", 403, **chat_request(switchboard, InstanceId=arn)
        )
        assert arn in response["Error"]["Message"], response
        expect_error(connect.list_queues, "AccessDeniedException", 403, InstanceId=arn)
        expect_error(connect.describe_contact, "AccessDeniedException", 403, InstanceId=arn, ContactId="c-1")


def test_a_malformed_instance_arn_is_invalid_and_a_non_arn_is_an_unknown_id(connect, switchboard):
    malformed = (
        f"arn:aws:connect:{switchboard.region}:{ACCOUNT}:queue/{switchboard.instance_id}",
        f"arn:aws:sns:{switchboard.region}:{ACCOUNT}:instance/{switchboard.instance_id}",
        f"arn:aws:connect:{switchboard.region}:{ACCOUNT}:instance/{switchboard.instance_id}/queue/q",
        "arn:aws:connect",
    )
    for arn in malformed:
        response = expect_error(
            connect.start_chat_contact, "InvalidRequestException", 400, **chat_request(switchboard, InstanceId=arn)
        )
        assert "InstanceId" in response["Error"]["Message"], response
        expect_error(connect.list_queues, "InvalidRequestException", 400, InstanceId=arn)
    # Not an ARN at all, so an id, which no instance has: the tail is never taken for the id.
    expect_error(
        connect.start_chat_contact, "ResourceNotFoundException", 404,
        **chat_request(switchboard, InstanceId=f"not-an-arn-instance/{switchboard.instance_id}"),
    )


def test_queue_and_agent_arns_must_name_this_instance(connect, switchboard):
    here = instance_arn(switchboard)
    queue = f"{here}/queue/{switchboard.queue_id}"
    figures = connect.get_current_metric_data(
        InstanceId=here, Filters={"Queues": [queue], "Channels": ["CHAT"]}, Groupings=["QUEUE"],
        CurrentMetrics=[{"Name": "CONTACTS_IN_QUEUE", "Unit": "COUNT"}],
    )
    assert [r["Dimensions"]["Queue"]["Id"] for r in figures["MetricResults"]] == [switchboard.queue_id]

    def metric_data(queue_reference):
        return dict(
            InstanceId=switchboard.instance_id, Filters={"Queues": [queue_reference], "Channels": ["CHAT"]},
            CurrentMetrics=[{"Name": "CONTACTS_IN_QUEUE", "Unit": "COUNT"}],
        )

    other_account = f"arn:aws:connect:{switchboard.region}:999999999999:instance/{switchboard.instance_id}/queue/{switchboard.queue_id}"
    expect_error(connect.get_current_metric_data, "AccessDeniedException", 403, **metric_data(other_account))
    other_instance = f"arn:aws:connect:{switchboard.region}:{ACCOUNT}:instance/other/queue/{switchboard.queue_id}"
    expect_error(connect.get_current_metric_data, "ResourceNotFoundException", 404, **metric_data(other_instance))
    wrong_kind = f"{here}/routing-profile/{switchboard.queue_id}"
    expect_error(connect.get_current_metric_data, "InvalidRequestException", 400, **metric_data(wrong_kind))
    expect_error(
        connect.get_current_user_data, "InvalidRequestException", 400,
        InstanceId=switchboard.instance_id, Filters={"Agents": [f"{here}/queue/someone"]},
    )


# ---- connect: SigV4 ------------------------------------------------------------------------


def test_wrong_secret_key_is_invalid_signature(switchboard):
    client = make_client(switchboard, "connect", secret_key="not-the-secret")
    expect_error(client.start_chat_contact, "InvalidSignatureException", 403, **chat_request(switchboard))


def test_unknown_access_key_is_unrecognized_client(switchboard):
    client = make_client(switchboard, "connect", access_key="AKIDUNKNOWN")
    expect_error(client.start_chat_contact, "UnrecognizedClientException", 403, **chat_request(switchboard))


# ---- participant: SendMessage / SendEvent --------------------------------------------------


def test_message_content_type_must_be_supported_by_the_chat(participant, start_chat, connect_participant):
    plain_only = start_chat()
    token = connect_participant(plain_only["ParticipantToken"])["ConnectionCredentials"]["ConnectionToken"]
    expect_error(
        participant.send_message, "ValidationException", 400,
        ConnectionToken=token, ContentType="text/markdown", Content="**bold**",
    )
    # The same message is fine on a chat that allows markdown.
    with_markdown = start_chat(SupportedMessagingContentTypes=["text/plain", "text/markdown"])
    token = connect_participant(with_markdown["ParticipantToken"])["ConnectionCredentials"]["ConnectionToken"]
    assert participant.send_message(ConnectionToken=token, ContentType="text/markdown", Content="**bold**")["Id"]


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("x" * 16385, id="16385-ascii-chars"),
        pytest.param("\u00e9" * 8193, id="8193-chars-16386-bytes"),
    ],
)
def test_message_content_over_16384_bytes_is_rejected(participant, connection_token, content):
    assert len(content.encode("utf-8")) > 16384
    expect_error(
        participant.send_message, "ValidationException", 400,
        ConnectionToken=connection_token, ContentType="text/plain", Content=content,
    )


def test_message_content_of_16384_bytes_is_accepted(participant, connection_token):
    content = "\u00e9" * 8192
    assert len(content.encode("utf-8")) == 16384
    assert participant.send_message(ConnectionToken=connection_token, ContentType="text/plain", Content=content)["Id"]


def test_unknown_event_content_type_is_rejected(participant, connection_token):
    expect_error(
        participant.send_event, "ValidationException", 400,
        ConnectionToken=connection_token, ContentType="application/vnd.amazonaws.connect.event.dancing",
    )


def test_send_message_client_token_is_idempotent(participant, connection_token):
    token = str(uuid.uuid4())
    first = participant.send_message(
        ConnectionToken=connection_token, ContentType="text/plain", Content="only once", ClientToken=token
    )
    again = participant.send_message(
        ConnectionToken=connection_token, ContentType="text/plain", Content="only once", ClientToken=token
    )
    assert again["Id"] == first["Id"]
    transcript = participant.get_transcript(ConnectionToken=connection_token, MaxResults=100)["Transcript"]
    assert [item["Id"] for item in transcript if item.get("Content") == "only once"] == [first["Id"]]


@pytest.mark.parametrize("kind", ["read-receipt", "typing"])
def test_send_event_client_token_is_idempotent(participant, connect, switchboard, start_chat, connect_participant, kind):
    """Protocol reference 9.6: a retried SendEvent (same ClientToken) gives the same result."""
    chat = start_chat()
    token = connect_participant(chat["ParticipantToken"])["ConnectionCredentials"]["ConnectionToken"]
    if kind == "typing":
        event = {"ContentType": TYPING}
    else:
        message_id = participant.send_message(ConnectionToken=token, ContentType="text/plain", Content="hi")["Id"]
        bot = connect.create_participant(
            InstanceId=switchboard.instance_id,
            ContactId=chat["ContactId"],
            ParticipantDetails={"ParticipantRole": "CUSTOM_BOT", "DisplayName": "Bot"},
        )
        token = connect_participant(bot["ParticipantCredentials"]["ParticipantToken"])["ConnectionCredentials"][
            "ConnectionToken"
        ]
        event = {"ContentType": READ, "Content": f'{{"messageId": "{message_id}"}}'}
    client_token = str(uuid.uuid4())
    first = participant.send_event(ConnectionToken=token, ClientToken=client_token, **event)
    again = participant.send_event(ConnectionToken=token, ClientToken=client_token, **event)
    assert again["Id"] == first["Id"]
    assert again["AbsoluteTime"] == first["AbsoluteTime"]


def test_disconnect_participant_client_token_is_idempotent(participant, connection_token):
    client_token = str(uuid.uuid4())
    participant.disconnect_participant(ConnectionToken=connection_token, ClientToken=client_token)
    # The retry of the same disconnect succeeds; any other call is refused.
    participant.disconnect_participant(ConnectionToken=connection_token, ClientToken=client_token)
    expect_error(participant.disconnect_participant, "AccessDeniedException", 403, ConnectionToken=connection_token)


# ---- participant: tokens -------------------------------------------------------------------


def test_connection_token_is_not_a_participant_token(participant, start_chat, connect_participant):
    chat = start_chat()
    connection_token = connect_participant(chat["ParticipantToken"])["ConnectionCredentials"]["ConnectionToken"]
    expect_error(
        participant.create_participant_connection, "AccessDeniedException", 403,
        ParticipantToken=connection_token, Type=["WEBSOCKET", "CONNECTION_CREDENTIALS"],
    )


def test_participant_token_is_not_a_connection_token(participant, start_chat):
    chat = start_chat()
    expect_error(
        participant.send_message, "AccessDeniedException", 403,
        ConnectionToken=chat["ParticipantToken"], ContentType="text/plain", Content="hi",
    )


def test_made_up_connection_token_is_denied(participant):
    expect_error(participant.send_event, "AccessDeniedException", 403, ConnectionToken="not-a-token", ContentType=TYPING)


def test_segment_attributes_are_accepted_and_described(connect, switchboard):
    segments = {
        "connect:Subtype": {"ValueString": "connect:Guide"},
        "custom": {"ValueMap": {"tier": {"ValueString": "gold"}, "score": {"ValueInteger": 7}}},
    }
    started = connect.start_chat_contact(
        **chat_request(
            switchboard,
            SegmentAttributes=segments,
            SupportedMessagingContentTypes=[
                "text/plain",
                "application/vnd.amazonaws.connect.message.interactive",
                "application/vnd.amazonaws.connect.message.interactive.response",
            ],
        )
    )
    contact = connect.describe_contact(InstanceId=switchboard.instance_id, ContactId=started["ContactId"])
    assert contact["Contact"]["SegmentAttributes"] == segments


@pytest.mark.parametrize(
    "segments",
    [
        {"a": {"ValueString": "x" * 1025}},
        {"a": {"ValueInteger": "seven"}},
        {"a": {"ValueMap": {"b": {"ValueArn": 5}}}},
        {"a" * 129: {"ValueString": "x"}},
        {"connect:Subtype": {"ValueString": "connect:Guide"}},
    ],
)
def test_bad_segment_attributes_are_invalid_parameters(unvalidated_connect, switchboard, segments):
    expect_error(
        unvalidated_connect.start_chat_contact,
        "InvalidParameterException",
        400,
        **chat_request(switchboard, SegmentAttributes=segments),
    )
