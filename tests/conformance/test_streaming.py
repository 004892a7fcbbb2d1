"""Streaming to Amazon SNS, over the real SNS and SQS protocols of moto's server.

A standard topic with an SQS queue subscribed to it stands in for an integrator's pipeline:
whatever Switchboard publishes arrives in the queue wrapped in SNS's Notification envelope, and
the test reads it back as a consumer would. Switchboard reaches moto through the
`[streaming.sns]` endpoint setting and boto3 drives both sides.
"""

import json
import queue
import re
import subprocess
import sys
import threading
import time
import uuid

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from conftest import (
    CHAT_ENDED, CONFIG, JOINED, LEFT, TYPING, _read_lines, make_client, running_switchboard,
    wait_for_line,
)

MOTO_READY = re.compile(r"Running on (http://127\.0\.0\.1:\d+)")
ACCOUNT = "123456789012"  # moto's default account, and Switchboard's
ATTRIBUTES = {"InitialContactId", "ContactId", "ParticipantRole", "InstanceId", "AccountId",
              "Type", "ContentType", "MessageVisibility"}
PATIENCE = 30  # seconds to wait for something that should arrive


@pytest.fixture(scope="module")
def moto():
    """moto's server on a free loopback port."""
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines, seen = queue.Queue(), []
    threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True).start()
    url = wait_for_line(lines, MOTO_READY, "moto", process, lambda: "".join(seen)).group(1)
    yield url
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def server(moto, tmp_path_factory):
    """A Switchboard whose SNS is moto."""
    workdir = tmp_path_factory.mktemp("switchboard-streaming")
    config = CONFIG.format(db=workdir / "switchboard.db") + f"""
[streaming]
retry_initial_ms = 50
retry_max_seconds = 2

[streaming.sns]
endpoint_url = "{moto}"
access_key_id = "moto"
secret_access_key = "moto"
"""
    with running_switchboard(workdir, config) as server:
        yield server


@pytest.fixture(scope="module")
def aws(moto, server):
    """boto3 clients: sns and sqs on moto, connect and connectparticipant on Switchboard."""
    def moto_client(service):
        return boto3.session.Session().client(
            service, endpoint_url=moto, region_name=server.region,
            aws_access_key_id="moto", aws_secret_access_key="moto",
        )

    class Clients:
        sns = moto_client("sns")
        sqs = moto_client("sqs")
        connect = make_client(server, "connect")
        participant = make_client(server, "connectparticipant")

    return Clients


def topic_with_queue(aws):
    """A standard topic and an SQS queue subscribed to it (raw delivery off, as by default)."""
    name = f"chat-{uuid.uuid4().hex[:12]}"
    topic = aws.sns.create_topic(Name=name)["TopicArn"]
    queue_url = aws.sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = aws.sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, queue_url


class Consumer:
    """Reads a queue as an integrator would: SNS notifications, unwrapped."""

    def __init__(self, aws, queue_url):
        self.aws, self.queue_url, self.notifications = aws, queue_url, []

    def poll(self, wait_seconds):
        answer = self.aws.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds)
        for message in answer.get("Messages", []):
            self.notifications.append(json.loads(message["Body"]))
            self.aws.sqs.delete_message(
                QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return bool(answer.get("Messages"))

    def items(self):
        return [json.loads(n["Message"]) for n in self.notifications]

    def wait_for(self, predicate, what):
        deadline = time.monotonic() + PATIENCE
        while not any(predicate(item) for item in self.items()):
            assert time.monotonic() < deadline, f"no {what} in the queue; got {self.items()}"
            self.poll(wait_seconds=1)  # a long poll: returns as soon as something arrives

    def drain(self):
        while self.poll(wait_seconds=0):
            pass


def streaming(arn):
    return {"StreamingEndpointArn": arn}


def wait_for_empty_outboxes(server):
    deadline = time.monotonic() + PATIENCE
    while True:
        text = requests.get(f"{server.endpoint}/metrics", timeout=10).text
        backlog = re.search(r"^switchboard_stream_backlog (\S+)$", text, re.M)
        if backlog and float(backlog.group(1)) == 0:
            return
        assert time.monotonic() < deadline, "the streaming outboxes never emptied"


def start_chat(aws, server, **params):
    return aws.connect.start_chat_contact(
        InstanceId=server.instance_id, ContactFlowId=server.contact_flow_id,
        ParticipantDetails={"DisplayName": "Ana"}, **params)


def connect_customer(aws, chat):
    connection = aws.participant.create_participant_connection(
        ParticipantToken=chat["ParticipantToken"], Type=["CONNECTION_CREDENTIALS"],
        ConnectParticipant=True)
    return connection["ConnectionCredentials"]["ConnectionToken"]


def test_every_item_reaches_a_queue_subscribed_to_the_topic(aws, server):
    topic, queue_url = topic_with_queue(aws)
    request = dict(ChatStreamingConfiguration=streaming(topic), ClientToken=str(uuid.uuid4()),
                   SupportedMessagingContentTypes=["text/plain", "text/markdown"],
                   InitialMessage={"ContentType": "text/plain", "Content": "Hello?"})
    chat = start_chat(aws, server, **request)
    assert chat["StreamingId"]
    retried = start_chat(aws, server, **request)
    assert (retried["ContactId"], retried["StreamingId"]) == (chat["ContactId"], chat["StreamingId"])
    token = connect_customer(aws, chat)
    sent = aws.participant.send_message(
        ConnectionToken=token, ContentType="text/markdown", Content="My *order* is late")
    aws.participant.send_event(ConnectionToken=token, ContentType=TYPING)
    transcript = aws.participant.get_transcript(ConnectionToken=token, SortOrder="ASCENDING")
    aws.participant.disconnect_participant(ConnectionToken=token)

    consumer = Consumer(aws, queue_url)
    consumer.wait_for(lambda i: i["ContentType"] == CHAT_ENDED, "chat.ended")
    # Switchboard publishes one item at a time, in order; moto's queue keeps the order it was
    # given (a real standard SQS queue may not: consumers order by AbsoluteTime or de-duplicate).
    items = consumer.items()
    assert [i["ContentType"] for i in items] == [
        JOINED, "text/plain", "text/markdown", TYPING, LEFT, CHAT_ENDED]
    assert items[2]["Id"] == sent["Id"]

    # The message body is the item as the transcript (and the WebSocket) has it.
    by_id = {i["Id"]: i for i in items}
    for kept in transcript["Transcript"]:
        streamed = by_id[kept["Id"]]
        for field in ("AbsoluteTime", "Content", "ContentType", "Type", "ParticipantId",
                      "DisplayName", "ParticipantRole"):
            assert streamed.get(field) == kept.get(field), (field, streamed, kept)
        assert streamed["InitialContactId"] == chat["ContactId"]
        assert streamed["ContactId"] == chat["ContactId"]

    for notification in consumer.notifications:
        assert notification["Type"] == "Notification"
        assert notification["TopicArn"] == topic
        attributes = notification["MessageAttributes"]
        assert set(attributes) == ATTRIBUTES
        assert all(a["Type"] == "String" for a in attributes.values())
        item = json.loads(notification["Message"])
        value = {name: a["Value"] for name, a in attributes.items()}
        assert value["InitialContactId"] == chat["ContactId"]
        assert value["ContactId"] == chat["ContactId"]
        assert value["InstanceId"] == server.instance_id
        assert value["AccountId"] == ACCOUNT
        assert value["Type"] == item["Type"]
        assert value["ContentType"] == item["ContentType"]
        assert value["ParticipantRole"] == item.get("ParticipantRole", "SYSTEM")
        assert value["MessageVisibility"] == "ALL"


def test_stop_contact_streaming_stops_one_topic_while_the_other_goes_on(aws, server):
    (topic_a, queue_a), (topic_b, queue_b) = topic_with_queue(aws), topic_with_queue(aws)
    chat = start_chat(aws, server)
    token = connect_customer(aws, chat)
    stream_a = aws.connect.start_contact_streaming(
        InstanceId=server.instance_id, ContactId=chat["ContactId"],
        ChatStreamingConfiguration=streaming(topic_a), ClientToken=str(uuid.uuid4()))
    aws.connect.start_contact_streaming(
        InstanceId=server.instance_id, ContactId=chat["ContactId"],
        ChatStreamingConfiguration=streaming(topic_b), ClientToken=str(uuid.uuid4()))
    before = aws.participant.send_message(ConnectionToken=token, ContentType="text/plain",
                                          Content="before")["Id"]
    a, b = Consumer(aws, queue_a), Consumer(aws, queue_b)
    a.wait_for(lambda i: i["Id"] == before, "the first message on a")
    b.wait_for(lambda i: i["Id"] == before, "the first message on b")

    assert aws.connect.stop_contact_streaming(
        InstanceId=server.instance_id, ContactId=chat["ContactId"],
        StreamingId=stream_a["StreamingId"])["ResponseMetadata"]["HTTPStatusCode"] == 200
    after = aws.participant.send_message(ConnectionToken=token, ContentType="text/plain",
                                         Content="after")["Id"]
    aws.participant.disconnect_participant(ConnectionToken=token)
    b.wait_for(lambda i: i["ContentType"] == CHAT_ENDED, "chat.ended on b")
    assert after in {i["Id"] for i in b.items()}

    wait_for_empty_outboxes(server)
    a.drain()
    assert before in {i["Id"] for i in a.items()}
    assert after not in {i["Id"] for i in a.items()}
    assert CHAT_ENDED not in {i["ContentType"] for i in a.items()}


def test_fifo_topics_and_a_third_endpoint_are_refused(aws, server):
    fifo = aws.sns.create_topic(Name=f"chat-{uuid.uuid4().hex[:8]}.fifo",
                                Attributes={"FifoTopic": "true"})["TopicArn"]
    with pytest.raises(ClientError) as refused:
        start_chat(aws, server, ChatStreamingConfiguration=streaming(fifo))
    assert refused.value.response["Error"]["Code"] == "InvalidRequestException"

    chat = start_chat(aws, server)

    def start_streaming(arn):
        return aws.connect.start_contact_streaming(
            InstanceId=server.instance_id, ContactId=chat["ContactId"],
            ChatStreamingConfiguration=streaming(arn), ClientToken=str(uuid.uuid4()))

    with pytest.raises(ClientError) as refused:
        start_streaming(fifo)
    assert refused.value.response["Error"]["Code"] == "InvalidRequestException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "FIFO" in refused.value.response["Error"]["Message"]

    start_streaming(topic_with_queue(aws)[0])
    start_streaming(topic_with_queue(aws)[0])
    with pytest.raises(ClientError) as refused:
        start_streaming(topic_with_queue(aws)[0])
    assert refused.value.response["Error"]["Code"] == "LimitExceededException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
