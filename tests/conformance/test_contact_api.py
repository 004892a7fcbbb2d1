"""The connect-side contact operations: DescribeContact and contact attributes."""


def test_describe_contact_of_a_new_chat(switchboard, connect, start_chat):
    chat = start_chat()
    contact = connect.describe_contact(InstanceId=switchboard.instance_id, ContactId=chat["ContactId"])["Contact"]
    assert contact["Id"] == chat["ContactId"]
    assert contact["InitialContactId"] == chat["ContactId"]
    assert contact["Channel"] == "CHAT"
    assert contact["InitiationMethod"] == "API"
    assert contact["QueueInfo"]["Id"] == switchboard.queue_id
    assert contact["Arn"].endswith(f"instance/{switchboard.instance_id}/contact/{chat['ContactId']}")
    assert "DisconnectTimestamp" not in contact


def test_instance_arn_in_the_path_is_accepted(switchboard, connect, start_chat):
    """An ARN as InstanceId is percent-encoded into the path (and signed double-encoded)."""
    arn = f"arn:aws:connect:{switchboard.region}:123456789012:instance/{switchboard.instance_id}"
    chat = start_chat(InstanceId=arn, Attributes={"plan": "gold"})
    contact = connect.describe_contact(InstanceId=arn, ContactId=chat["ContactId"])["Contact"]
    assert contact["Id"] == chat["ContactId"]
    attributes = connect.get_contact_attributes(InstanceId=arn, InitialContactId=chat["ContactId"])["Attributes"]
    assert attributes == {"plan": "gold"}


def test_contact_attributes_round_trip(switchboard, connect, start_chat):
    chat = start_chat(Attributes={"plan": "gold", "lang": "en"})
    get = lambda: connect.get_contact_attributes(  # noqa: E731
        InstanceId=switchboard.instance_id, InitialContactId=chat["ContactId"]
    )["Attributes"]
    assert get() == {"plan": "gold", "lang": "en"}
    connect.update_contact_attributes(
        InstanceId=switchboard.instance_id, InitialContactId=chat["ContactId"], Attributes={"plan": "silver", "vip": "no"}
    )
    assert get() == {"plan": "silver", "lang": "en", "vip": "no"}


def test_customer_disconnect_is_recorded_on_the_contact(
    switchboard, connect, participant, start_chat, connect_participant
):
    chat = start_chat()
    token = connect_participant(chat["ParticipantToken"])["ConnectionCredentials"]["ConnectionToken"]
    participant.disconnect_participant(ConnectionToken=token)
    contact = connect.describe_contact(InstanceId=switchboard.instance_id, ContactId=chat["ContactId"])["Contact"]
    assert contact["DisconnectTimestamp"] >= contact["InitiationTimestamp"]
    assert contact.get("DisconnectReason") == "CUSTOMER_DISCONNECT"
