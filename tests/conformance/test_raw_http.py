"""The wire itself, below boto3: error headers and bodies, missing and stale SigV4."""

import datetime
import json

import pytest
import requests
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

TIMEOUT = 10


def assert_aws_error(response, status, code):
    """The rest-json error shape: status, X-Amzn-ErrorType, JSON body with __type/message/Message."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers.get("x-amzn-ErrorType") == code, dict(response.headers)
    assert response.headers.get("Content-Type", "").startswith("application/json"), dict(response.headers)
    assert response.headers.get("x-amzn-RequestId"), dict(response.headers)
    body = response.json()
    assert body["__type"] == code, body
    assert isinstance(body["message"], str) and body["message"], body
    assert body["Message"] == body["message"], body
    return body


class FixedTimeSigV4Auth(SigV4Auth):
    """SigV4Auth that signs as if the clock read `when` (same steps as SigV4Auth.add_auth)."""

    def __init__(self, credentials, service, region, when):
        super().__init__(credentials, service, region)
        self._when = when

    def add_auth(self, request):
        request.context["timestamp"] = self._when.strftime(SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)
        canonical_request = self.canonical_request(request)
        string_to_sign = self.string_to_sign(request, canonical_request)
        self._inject_signature_to_request(request, self.signature(string_to_sign, request))


def signed_start_chat(switchboard, when):
    body = json.dumps({
        "InstanceId": switchboard.instance_id,
        "ContactFlowId": switchboard.contact_flow_id,
        "ParticipantDetails": {"DisplayName": "Raw"},
    })
    request = AWSRequest(
        method="PUT",
        url=f"{switchboard.endpoint}/contact/chat",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    credentials = Credentials(switchboard.access_key, switchboard.secret_key)
    FixedTimeSigV4Auth(credentials, "connect", switchboard.region, when).add_auth(request)
    return requests.put(request.url, data=body, headers=dict(request.headers.items()), timeout=TIMEOUT)


def test_malformed_json_body_is_validation_exception(switchboard, connection_token):
    response = requests.post(
        f"{switchboard.endpoint}/participant/message",
        data='{"ContentType": "text/plain", "Content": ',
        headers={"Content-Type": "application/json", "X-Amz-Bearer": connection_token},
        timeout=TIMEOUT,
    )
    assert_aws_error(response, 400, "ValidationException")


def test_unknown_route_is_a_json_404(switchboard):
    response = requests.get(f"{switchboard.endpoint}/no/such/route", timeout=TIMEOUT)
    assert response.status_code == 404, response.text
    code = response.headers.get("x-amzn-ErrorType")
    assert code, dict(response.headers)
    assert_aws_error(response, 404, code)


def test_start_chat_without_authorization_is_missing_authentication_token(switchboard):
    response = requests.put(
        f"{switchboard.endpoint}/contact/chat",
        data=json.dumps({
            "InstanceId": switchboard.instance_id,
            "ContactFlowId": switchboard.contact_flow_id,
            "ParticipantDetails": {"DisplayName": "Nobody"},
        }),
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert_aws_error(response, 403, "MissingAuthenticationTokenException")


def test_signature_with_current_date_is_accepted(switchboard):
    """Control for the stale-date test: the same hand-signed request, dated now, succeeds."""
    response = signed_start_chat(switchboard, datetime.datetime.now(datetime.timezone.utc))
    assert response.status_code == 200, response.text
    assert response.json()["ContactId"]


@pytest.mark.parametrize("minutes", [-20, 20], ids=["20-minutes-old", "20-minutes-ahead"])
def test_signature_outside_clock_skew_is_invalid_signature(switchboard, minutes):
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=minutes)
    response = signed_start_chat(switchboard, when)
    assert_aws_error(response, 403, "InvalidSignatureException")


def test_oversized_body_is_refused_whole(switchboard, connection_token):
    body = json.dumps({"ContentType": "text/plain", "Content": "x" * 300_000})
    response = requests.post(
        f"{switchboard.endpoint}/participant/message",
        data=body,
        headers={"Content-Type": "application/json", "X-Amz-Bearer": connection_token},
        timeout=TIMEOUT,
    )
    assert_aws_error(response, 413, "RequestEntityTooLargeException")


def test_wrong_member_types_are_validation_exceptions(switchboard, connection_token):
    for body in ({"ContentType": 5, "Content": "x"}, {"ContentType": "text/plain", "Content": ["x"]}, [1, 2]):
        response = requests.post(
            f"{switchboard.endpoint}/participant/message",
            data=json.dumps(body),
            headers={"Content-Type": "application/json", "X-Amz-Bearer": connection_token},
            timeout=TIMEOUT,
        )
        assert_aws_error(response, 400, "ValidationException")


def test_preflight_allows_browser_clients(switchboard):
    response = requests.options(
        f"{switchboard.endpoint}/participant/message",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-amz-bearer,x-amz-date,authorization",
        },
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    for header in ("content-type", "x-amz-bearer", "x-amz-date", "authorization"):
        assert header in allowed, allowed


def test_websocket_url_needs_a_valid_token_and_an_upgrade(switchboard, start_chat, participant):
    response = requests.get(f"{switchboard.endpoint}/ws/v1/chat?token=forged", timeout=TIMEOUT)
    assert_aws_error(response, 403, "AccessDeniedException")
    chat = start_chat()
    url = participant.create_participant_connection(
        ParticipantToken=chat["ParticipantToken"], Type=["WEBSOCKET"]
    )["Websocket"]["Url"]
    plain = requests.get(url.replace("ws://", "http://", 1), timeout=TIMEOUT)
    assert plain.status_code >= 400, plain.text
    assert plain.headers.get("x-amzn-ErrorType"), dict(plain.headers)
    assert plain.json()["message"], plain.text


def test_undecodable_path_labels_get_the_aws_error_shape(switchboard):
    url = f"{switchboard.endpoint}/contacts/%FF%FE/x"
    unsigned = requests.get(url, timeout=TIMEOUT)
    assert_aws_error(unsigned, 403, "MissingAuthenticationTokenException")
    request = AWSRequest(method="GET", url=url)
    credentials = Credentials(switchboard.access_key, switchboard.secret_key)
    now = datetime.datetime.now(datetime.timezone.utc)
    FixedTimeSigV4Auth(credentials, "connect", switchboard.region, now).add_auth(request)
    signed = requests.get(url, headers=dict(request.headers.items()), timeout=TIMEOUT)
    assert_aws_error(signed, 400, "InvalidRequestException")
