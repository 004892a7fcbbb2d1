"""A whole chat, as a customer widget and a custom bot would live it.

customer starts a chat and connects its WebSocket -> a CUSTOM_BOT joins with its own socket ->
messages both ways -> typing both ways -> delivered/read receipts -> transcript paging forward
and backward -> the customer leaves -> the chat is over for everyone.
"""

import concurrent.futures
import datetime

import pytest
from botocore.exceptions import ClientError

from conftest import (
    CHAT_ENDED,
    DELIVERED,
    ISO_MILLIS,
    JOINED,
    LEFT,
    METADATA,
    READ,
    TYPING,
)


def assert_expires_in(text, seconds, slack=60):
    """`text` is an ISO-8601 time with millis and Z, about `seconds` from now."""
    assert ISO_MILLIS.match(text), text
    expiry = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    left = (expiry - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    assert seconds - slack <= left <= seconds + slack, f"{text} is {left:.0f}s away, expected about {seconds}s"


def assert_item_of_chat(item, contact_id):
    """Every pushed item names the chat it belongs to and carries the basic Item fields."""
    assert item["InitialContactId"] == contact_id, item
    assert item["ContactId"] == contact_id, item
    assert item["Id"], item
    assert ISO_MILLIS.match(item["AbsoluteTime"]), item
    assert item["ContentType"], item


def assert_sender(item, participant_id, role, display_name):
    assert item["ParticipantId"] == participant_id, item
    assert item["ParticipantRole"] == role, item
    assert item["DisplayName"] == display_name, item


def page_through(participant, token, page_size, **params):
    """Follows NextToken to the end; returns the list of pages (each a list of items)."""
    pages = []
    next_token = None
    for _ in range(100):
        request = dict(params, ConnectionToken=token, MaxResults=page_size)
        if next_token:
            request["NextToken"] = next_token
        response = participant.get_transcript(**request)
        page = response["Transcript"]
        assert len(page) <= page_size, f"page of {len(page)} items for MaxResults {page_size}"
        pages.append(page)
        next_token = response.get("NextToken")
        if not next_token:
            return pages
    pytest.fail("GetTranscript kept returning a NextToken after 100 pages")


def ids(items):
    return [item["Id"] for item in items]


def assert_access_denied(call, **params):
    with pytest.raises(ClientError) as raised:
        call(**params)
    error = raised.value.response
    assert error["Error"]["Code"] == "AccessDeniedException", error
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403, error
    assert error["Error"]["Message"] == "Access denied", error


def test_full_chat_scenario(switchboard, connect, participant, start_chat, connect_participant, open_socket):
    # ---- the customer starts a chat and connects ------------------------------------------
    chat = start_chat(ParticipantDetails={"DisplayName": "Jane"})
    contact_id = chat["ContactId"]
    customer_id = chat["ParticipantId"]
    assert contact_id and customer_id and chat["ParticipantToken"]

    customer_connection = connect_participant(chat["ParticipantToken"])
    # The socket URL is good for about 100 s, the ConnectionToken for about a day.
    assert_expires_in(customer_connection["Websocket"]["ConnectionExpiry"], seconds=100)
    assert_expires_in(customer_connection["ConnectionCredentials"]["Expiry"], seconds=86400)
    customer_token = customer_connection["ConnectionCredentials"]["ConnectionToken"]
    customer_ws = open_socket(customer_connection["Websocket"]["Url"])

    # ---- a custom bot joins with its own socket --------------------------------------------
    bot = connect.create_participant(
        InstanceId=switchboard.instance_id,
        ContactId=contact_id,
        ParticipantDetails={"ParticipantRole": "CUSTOM_BOT", "DisplayName": "Bot"},
    )
    bot_id = bot["ParticipantId"]
    assert bot_id and bot_id != customer_id
    joined = customer_ws.wait_for_type(JOINED, ParticipantId=bot_id)
    assert_item_of_chat(joined, contact_id)
    assert_sender(joined, bot_id, "CUSTOM_BOT", "Bot")
    assert joined["Type"] == "EVENT"

    bot_connection = connect_participant(bot["ParticipantCredentials"]["ParticipantToken"])
    bot_token = bot_connection["ConnectionCredentials"]["ConnectionToken"]
    bot_ws = open_socket(bot_connection["Websocket"]["Url"])

    # ---- messages both ways: each side sees the other's (and its own) message --------------
    sent = participant.send_message(ConnectionToken=customer_token, ContentType="text/plain", Content="Hi, I need help")
    customer_message_id = sent["Id"]
    assert ISO_MILLIS.match(sent["AbsoluteTime"])
    for ws in (bot_ws, customer_ws):
        item = ws.wait_for_id(customer_message_id)
        assert_item_of_chat(item, contact_id)
        assert_sender(item, customer_id, "CUSTOMER", "Jane")
        assert item["Type"] == "MESSAGE"
        assert item["ContentType"] == "text/plain"
        assert item["Content"] == "Hi, I need help"
        assert item["AbsoluteTime"] == sent["AbsoluteTime"]

    sent = participant.send_message(ConnectionToken=bot_token, ContentType="text/plain", Content="Hello Jane, how can I help?")
    bot_message_id = sent["Id"]
    for ws in (customer_ws, bot_ws):
        item = ws.wait_for_id(bot_message_id)
        assert_item_of_chat(item, contact_id)
        assert_sender(item, bot_id, "CUSTOM_BOT", "Bot")
        assert item["Type"] == "MESSAGE"
        assert item["Content"] == "Hello Jane, how can I help?"

    # ---- typing both ways: pushed, never stored -------------------------------------------
    typing_ids = []
    for token, sender_id, role, name, receiver in (
        (customer_token, customer_id, "CUSTOMER", "Jane", bot_ws),
        (bot_token, bot_id, "CUSTOM_BOT", "Bot", customer_ws),
    ):
        event = participant.send_event(ConnectionToken=token, ContentType=TYPING)
        typing_ids.append(event["Id"])
        item = receiver.wait_for_id(event["Id"])
        assert_item_of_chat(item, contact_id)
        assert_sender(item, sender_id, role, name)
        assert item["Type"] == "EVENT"
        assert item["ContentType"] == TYPING

    # ---- receipts: the bot got and read the customer's message, and vice versa -------------
    def send_receipt(token, content_type, message_id):
        return participant.send_event(
            ConnectionToken=token, ContentType=content_type, Content=f'{{"messageId": "{message_id}"}}'
        )

    def receipt_item(ws, message_id, recipient_id, field):
        def matches(item):
            meta = item.get("MessageMetadata") or {}
            receipts = meta.get("Receipts") or [{}]
            return (
                item.get("Type") == "MESSAGEMETADATA"
                and meta.get("MessageId") == message_id
                and receipts[0].get("RecipientParticipantId") == recipient_id
                and field in receipts[0]
            )

        item = ws.wait_for(matches, f"MESSAGEMETADATA {field} for {message_id} by {recipient_id}")
        assert_item_of_chat(item, contact_id)
        assert item["ContentType"] == METADATA
        assert ISO_MILLIS.match(item["MessageMetadata"]["Receipts"][0][field]), item
        return item

    send_receipt(bot_token, DELIVERED, customer_message_id)
    receipt_item(customer_ws, customer_message_id, bot_id, "DeliveredTimestamp")
    send_receipt(bot_token, READ, customer_message_id)
    receipt_item(customer_ws, customer_message_id, bot_id, "ReadTimestamp")
    send_receipt(customer_token, READ, bot_message_id)
    receipt_item(bot_ws, bot_message_id, customer_id, "ReadTimestamp")

    # ---- more conversation, so the transcript spans several pages --------------------------
    message_ids = [customer_message_id, bot_message_id]
    for n in range(8):
        token = customer_token if n % 2 == 0 else bot_token
        message_ids.append(
            participant.send_message(ConnectionToken=token, ContentType="text/plain", Content=f"message {n}")["Id"]
        )
    # Both sockets see every message, in the order they were sent.
    for ws in (customer_ws, bot_ws):
        for message_id in message_ids[2:]:
            ws.wait_for_id(message_id)

    # ---- the transcript: everything stored once, typing never -------------------------------
    everything = participant.get_transcript(ConnectionToken=customer_token, MaxResults=100)
    assert everything["InitialContactId"] == contact_id
    assert "NextToken" not in everything
    newest_first = everything["Transcript"]
    item_ids = ids(newest_first)
    assert len(item_ids) == len(set(item_ids)), "an item appears twice in the transcript"
    assert not set(typing_ids) & set(item_ids), "typing events must not be stored"
    assert not [i for i in newest_first if i["ContentType"] == TYPING]
    for item in newest_first:
        assert item["ContactId"] == contact_id, item
        assert ISO_MILLIS.match(item["AbsoluteTime"]), item
    # Default order is DESCENDING: newest first.
    times = [item["AbsoluteTime"] for item in newest_first]
    assert times == sorted(times, reverse=True)
    # All ten messages, in sending order (read oldest first).
    transcript_messages = [i for i in reversed(newest_first) if i["Type"] == "MESSAGE"]
    assert ids(transcript_messages) == message_ids
    # The two joins are there too.
    joins = {i["ParticipantId"] for i in newest_first if i["ContentType"] == JOINED}
    assert joins == {customer_id, bot_id}

    # Receipts show on the MESSAGE item as MessageMetadata.
    by_id = {item["Id"]: item for item in newest_first}
    meta = by_id[customer_message_id]["MessageMetadata"]
    assert meta["MessageId"] == customer_message_id
    [receipt] = meta["Receipts"]
    assert receipt["RecipientParticipantId"] == bot_id
    assert ISO_MILLIS.match(receipt["DeliveredTimestamp"])
    assert ISO_MILLIS.match(receipt["ReadTimestamp"])
    meta = by_id[bot_message_id]["MessageMetadata"]
    assert meta["MessageId"] == bot_message_id
    [receipt] = meta["Receipts"]
    assert receipt["RecipientParticipantId"] == customer_id
    assert ISO_MILLIS.match(receipt["ReadTimestamp"])

    # Defaults: no StartPosition -> BACKWARD from now, DESCENDING, 10 items.
    default_page = participant.get_transcript(ConnectionToken=bot_token)
    assert len(newest_first) > 10
    assert ids(default_page["Transcript"]) == item_ids[:10]
    assert default_page.get("NextToken")

    # Backward paging (the default scan) walks from newest to oldest without gaps or repeats.
    pages = page_through(participant, customer_token, 5)
    assert len(pages) >= 3
    assert all(pages[:-1]), "an empty page before the last one"
    assert ids(item for page in pages for item in page) == item_ids

    # Same walk listed ASCENDING: each page is oldest-first, pages still go back in time.
    pages = page_through(participant, customer_token, 5, SortOrder="ASCENDING")
    for page in pages:
        page_times = [item["AbsoluteTime"] for item in page]
        assert page_times == sorted(page_times)
    assert ids(item for page in reversed(pages) for item in page) == list(reversed(item_ids))

    # Forward paging from the oldest item, ASCENDING: oldest to newest.
    oldest = newest_first[-1]["Id"]
    pages = page_through(
        participant, bot_token, 4, ScanDirection="FORWARD", SortOrder="ASCENDING", StartPosition={"Id": oldest}
    )
    assert len(pages) >= 3
    forward_ids = ids(item for page in pages for item in page)
    oldest_first = list(reversed(item_ids))
    # Whether StartPosition.Id is itself included is not documented; everything after it must be.
    if forward_ids and forward_ids[0] == oldest:
        assert forward_ids == oldest_first
    else:
        assert forward_ids == oldest_first[1:]
    forward_times = [item["AbsoluteTime"] for page in pages for item in page]
    assert forward_times == sorted(forward_times)

    # ---- the customer leaves: the chat ends for everyone ----------------------------------
    participant.disconnect_participant(ConnectionToken=customer_token)

    left = bot_ws.wait_for_type(LEFT)
    assert_item_of_chat(left, contact_id)
    assert_sender(left, customer_id, "CUSTOMER", "Jane")
    assert left["Type"] == "EVENT"
    ended = bot_ws.wait_for_type(CHAT_ENDED)
    assert_item_of_chat(ended, contact_id)
    assert ended["Type"] == "EVENT"
    assert bot_ws.items.index(left) < bot_ws.items.index(ended), "participant.left must come before chat.ended"
    assert bot_ws.wait_closed() == 1000

    # The customer's own socket sees its departure and is closed normally.
    customer_ws.wait_for_type(LEFT, ParticipantId=customer_id)
    assert customer_ws.wait_closed() == 1000

    # ---- afterwards every participant call is refused ---------------------------------------
    for token in (customer_token, bot_token):
        assert_access_denied(participant.send_message, ConnectionToken=token, ContentType="text/plain", Content="hello?")
        assert_access_denied(participant.send_event, ConnectionToken=token, ContentType=TYPING)
        assert_access_denied(
            participant.send_event,
            ConnectionToken=token,
            ContentType=READ,
            Content=f'{{"messageId": "{customer_message_id}"}}',
        )
        assert_access_denied(participant.get_transcript, ConnectionToken=token)
        assert_access_denied(participant.disconnect_participant, ConnectionToken=token)
    for participant_token in (chat["ParticipantToken"], bot["ParticipantCredentials"]["ParticipantToken"]):
        assert_access_denied(
            participant.create_participant_connection,
            ParticipantToken=participant_token,
            Type=["WEBSOCKET", "CONNECTION_CREDENTIALS"],
        )


def test_websocket_keepalive_frames(start_chat, connect_participant, open_socket):
    chat = start_chat()
    url = connect_participant(chat["ParticipantToken"])["Websocket"]["Url"]
    ws = open_socket(url)
    assert ws.request({"topic": "aws/heartbeat"}, "aws/heartbeat") == {"topic": "aws/heartbeat"}
    assert ws.request({"topic": "aws/ping"}, "aws/ping") == {
        "topic": "aws/ping",
        "statusCode": 200,
        "statusContent": "OK",
    }


def test_every_socket_of_a_participant_gets_every_item(
    switchboard, participant, start_chat, connect_participant, open_socket
):
    chat = start_chat()
    # Two connections of the same customer (as during ChatJS's socket rollover).
    first = connect_participant(chat["ParticipantToken"])
    second = connect_participant(chat["ParticipantToken"])
    sockets = [open_socket(first["Websocket"]["Url"]), open_socket(second["Websocket"]["Url"])]

    # An older ConnectionToken keeps working after a new one was minted.
    token = first["ConnectionCredentials"]["ConnectionToken"]
    sent = participant.send_message(ConnectionToken=token, ContentType="text/plain", Content="twice")
    typing = participant.send_event(
        ConnectionToken=second["ConnectionCredentials"]["ConnectionToken"], ContentType=TYPING
    )
    for ws in sockets:
        assert ws.wait_for_id(sent["Id"])["Content"] == "twice"
        assert ws.wait_for_id(typing["Id"])["ContentType"] == TYPING


def test_customer_socket_gets_chat_ended_after_own_disconnect(participant, start_chat, connect_participant, open_socket):
    """ChatJS >= 4 tears a customer session down only when chat.ended arrives on its socket
    (protocol reference 3.7 / 9.13), so the leaving customer's socket must get it too."""
    chat = start_chat()
    connection = connect_participant(chat["ParticipantToken"])
    ws = open_socket(connection["Websocket"]["Url"])
    participant.disconnect_participant(ConnectionToken=connection["ConnectionCredentials"]["ConnectionToken"])
    left = ws.wait_for_type(LEFT, ParticipantId=chat["ParticipantId"])
    ended = ws.wait_for_type(CHAT_ENDED)
    assert ws.items.index(left) < ws.items.index(ended)
    assert ws.wait_closed() == 1000


def test_stop_contact_ends_the_chat(switchboard, connect, participant, start_chat, connect_participant, open_socket):
    chat = start_chat()
    connection = connect_participant(chat["ParticipantToken"])
    token = connection["ConnectionCredentials"]["ConnectionToken"]
    ws = open_socket(connection["Websocket"]["Url"])
    connect.stop_contact(InstanceId=switchboard.instance_id, ContactId=chat["ContactId"])
    ended = ws.wait_for_type(CHAT_ENDED)
    assert_item_of_chat(ended, chat["ContactId"])
    assert ws.wait_closed() == 1000
    assert_access_denied(participant.send_message, ConnectionToken=token, ContentType="text/plain", Content="hi")
    assert_access_denied(participant.get_transcript, ConnectionToken=token)


def test_bot_leaving_does_not_end_the_chat(switchboard, connect, participant, start_chat, connect_participant, open_socket):
    chat = start_chat()
    customer = connect_participant(chat["ParticipantToken"])
    customer_token = customer["ConnectionCredentials"]["ConnectionToken"]
    customer_ws = open_socket(customer["Websocket"]["Url"])
    bot = connect.create_participant(
        InstanceId=switchboard.instance_id,
        ContactId=chat["ContactId"],
        ParticipantDetails={"ParticipantRole": "CUSTOM_BOT", "DisplayName": "Bot"},
    )
    bot_connection = connect_participant(bot["ParticipantCredentials"]["ParticipantToken"])
    bot_token = bot_connection["ConnectionCredentials"]["ConnectionToken"]
    bot_ws = open_socket(bot_connection["Websocket"]["Url"])

    participant.disconnect_participant(ConnectionToken=bot_token)
    left = customer_ws.wait_for_type(LEFT, ParticipantId=bot["ParticipantId"])
    assert_sender(left, bot["ParticipantId"], "CUSTOM_BOT", "Bot")
    bot_ws.wait_for_type(LEFT, ParticipantId=bot["ParticipantId"])
    assert bot_ws.wait_closed() == 1000

    # The bot is gone; the customer's chat goes on (its socket stays open and gets new items).
    assert_access_denied(participant.send_message, ConnectionToken=bot_token, ContentType="text/plain", Content="x")
    sent = participant.send_message(ConnectionToken=customer_token, ContentType="text/plain", Content="anyone?")
    customer_ws.wait_for_id(sent["Id"])
    assert not [i for i in customer_ws.items if i["ContentType"] == CHAT_ENDED]


def test_transcript_paging_is_stable_while_messages_arrive(participant, start_chat, connect_participant):
    chat = start_chat()
    token = connect_participant(chat["ParticipantToken"])["ConnectionCredentials"]["ConnectionToken"]
    for n in range(7):
        participant.send_message(ConnectionToken=token, ContentType="text/plain", Content=f"before {n}")
    snapshot = ids(participant.get_transcript(ConnectionToken=token, MaxResults=100)["Transcript"])

    # Walk backward three at a time, with a new message arriving between every two pages.
    walked, next_token = [], None
    for n in range(20):
        request = {"ConnectionToken": token, "MaxResults": 3}
        if next_token:
            request["NextToken"] = next_token
        page = participant.get_transcript(**request)
        walked += ids(page["Transcript"])
        next_token = page.get("NextToken")
        if not next_token:
            break
        participant.send_message(ConnectionToken=token, ContentType="text/plain", Content=f"during {n}")
    assert walked == snapshot, "backward paging skipped or repeated items while messages arrived"

    # A forward walk started before new messages sees them too, each once and in order.
    oldest = snapshot[-1]
    first = participant.get_transcript(
        ConnectionToken=token, MaxResults=2, ScanDirection="FORWARD", SortOrder="ASCENDING",
        StartPosition={"Id": oldest},
    )
    late = participant.send_message(ConnectionToken=token, ContentType="text/plain", Content="late")["Id"]
    walked, next_token = ids(first["Transcript"]), first.get("NextToken")
    while next_token:
        page = participant.get_transcript(
            ConnectionToken=token, MaxResults=2, ScanDirection="FORWARD", SortOrder="ASCENDING", NextToken=next_token
        )
        walked += ids(page["Transcript"])
        next_token = page.get("NextToken")
    everything = list(reversed(ids(participant.get_transcript(ConnectionToken=token, MaxResults=100)["Transcript"])))
    assert walked[-1] == late
    # (Whether StartPosition.Id itself is included is not documented.)
    assert walked in (everything, everything[1:]), "forward paging skipped or repeated items"


def test_create_participant_accepts_only_custom_bot(switchboard, connect, start_chat):
    chat = start_chat()
    for role in ("AGENT", "SUPERVISOR"):
        with pytest.raises(ClientError) as raised:
            connect.create_participant(
                InstanceId=switchboard.instance_id,
                ContactId=chat["ContactId"],
                ParticipantDetails={"ParticipantRole": role, "DisplayName": role.title()},
            )
        error = raised.value.response
        assert error["Error"]["Code"] == "InvalidRequestException", error
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 400, error


def test_concurrent_messages_arrive_once_and_in_transcript_order(
    switchboard, connect, participant, start_chat, connect_participant, open_socket
):
    chat = start_chat()
    customer = connect_participant(chat["ParticipantToken"])
    customer_ws = open_socket(customer["Websocket"]["Url"])
    bot = connect.create_participant(
        InstanceId=switchboard.instance_id,
        ContactId=chat["ContactId"],
        ParticipantDetails={"ParticipantRole": "CUSTOM_BOT", "DisplayName": "Bot"},
    )
    bot_connection = connect_participant(bot["ParticipantCredentials"]["ParticipantToken"])
    bot_ws = open_socket(bot_connection["Websocket"]["Url"])
    tokens = [
        customer["ConnectionCredentials"]["ConnectionToken"],
        bot_connection["ConnectionCredentials"]["ConnectionToken"],
    ]

    def send(n):
        token = tokens[n % 2]
        return participant.send_message(ConnectionToken=token, ContentType="text/plain", Content=f"c{n}")["Id"]

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        sent = set(pool.map(send, range(20)))
    assert len(sent) == 20

    transcript = participant.get_transcript(
        ConnectionToken=tokens[0], MaxResults=100, SortOrder="ASCENDING"
    )["Transcript"]
    in_order = [item["Id"] for item in transcript if item["Id"] in sent]
    assert len(in_order) == 20
    times = [item["AbsoluteTime"] for item in transcript]
    assert times == sorted(times)
    for ws in (customer_ws, bot_ws):
        received = [ws.wait_for(lambda item: item["Id"] in sent, "one of the concurrent messages")["Id"] for _ in sent]
        assert received == in_order, "a socket saw messages in another order than the transcript"


def test_transcript_start_positions(participant, start_chat, connect_participant):
    chat = start_chat()
    token = connect_participant(chat["ParticipantToken"])["ConnectionCredentials"]["ConnectionToken"]
    for n in range(6):
        participant.send_message(ConnectionToken=token, ContentType="text/plain", Content=f"m{n}")
    oldest_first = participant.get_transcript(ConnectionToken=token, MaxResults=100, SortOrder="ASCENDING")[
        "Transcript"
    ]

    # An empty StartPosition (what ChatJS sends) is the same as none: BACKWARD from now.
    default = participant.get_transcript(ConnectionToken=token, MaxResults=100)
    empty = participant.get_transcript(ConnectionToken=token, MaxResults=100, StartPosition={})
    assert ids(empty["Transcript"]) == ids(default["Transcript"]) == list(reversed(ids(oldest_first)))

    # FORWARD from an AbsoluteTime: everything after that time, nothing before it.
    pivot = oldest_first[3]["AbsoluteTime"]
    after = participant.get_transcript(
        ConnectionToken=token, MaxResults=100, ScanDirection="FORWARD", SortOrder="ASCENDING",
        StartPosition={"AbsoluteTime": pivot},
    )["Transcript"]
    assert all(item["AbsoluteTime"] >= pivot for item in after), after
    assert [i for i in ids(oldest_first) if i in ids(after)] == ids(after)
    assert set(ids(after)) >= {item["Id"] for item in oldest_first if item["AbsoluteTime"] > pivot}

    # BACKWARD from an AbsoluteTime: everything before it, nothing after.
    before = participant.get_transcript(
        ConnectionToken=token, MaxResults=100, ScanDirection="BACKWARD", SortOrder="ASCENDING",
        StartPosition={"AbsoluteTime": pivot},
    )["Transcript"]
    assert all(item["AbsoluteTime"] <= pivot for item in before), before
    assert set(ids(before)) >= {item["Id"] for item in oldest_first if item["AbsoluteTime"] < pivot}
