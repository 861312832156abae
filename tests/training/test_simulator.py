"""The OpenAI simulator, exercised through the official SDK as the app will use it."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
from django.core.management import CommandError, call_command

from tests.training.conftest import TEST_KEY, FakeClock, WebhookReceiver, chat_example
from training.simulator import FaultSpecError, SimulatorServer, parse_faults
from training.simulator.endpoints import parse_multipart
from training.simulator.state import SimulatorState
from training.simulator.webhooks import sign

MODEL = "gpt-4.1-mini-2025-04-14"
TWO_EPOCHS = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}}


def upload(client: openai.OpenAI, path: Path) -> str:
    with path.open("rb") as handle:
        return client.files.create(file=handle, purpose="fine-tune").id


def create_job(client: openai.OpenAI, path: Path, **kwargs: Any) -> Any:
    kwargs.setdefault("model", MODEL)
    kwargs.setdefault("method", TWO_EPOCHS)
    if kwargs["method"] is None:
        del kwargs["method"]
    return client.fine_tuning.jobs.create(training_file=upload(client, path), **kwargs)


# -- files -----------------------------------------------------------------------------------


def test_upload_round_trips_bytes_and_reports_processed(
    client: openai.OpenAI, tmp_path: Path
) -> None:
    # Non-ASCII text and a CRLF line ending must survive multipart parsing untouched.
    path = tmp_path / "données.jsonl"
    raw = (json.dumps(chat_example(1), ensure_ascii=False) + "\r\n").encode() + "é€\n".encode()
    path.write_bytes(raw)

    with path.open("rb") as handle:
        created = client.files.create(file=handle, purpose="fine-tune")

    assert created.id.startswith("file-")
    assert created.object == "file"
    assert created.status == "processed"
    assert created.bytes == len(raw)
    assert created.filename == "données.jsonl"
    assert client.files.retrieve(created.id).id == created.id
    assert client.files.content(created.id).content == raw


def test_delete_file_then_retrieve_is_404(client: openai.OpenAI, training_file: Path) -> None:
    file_id = upload(client, training_file)

    deleted = client.files.delete(file_id)

    assert deleted.deleted is True
    with pytest.raises(openai.NotFoundError) as caught:
        client.files.retrieve(file_id)
    assert caught.value.body["message"] == f"No such File object: {file_id}"


def test_fine_tune_upload_must_be_jsonl(client: openai.OpenAI, tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text("a,b\n")

    with pytest.raises(openai.BadRequestError) as caught, path.open("rb") as handle:
        client.files.create(file=handle, purpose="fine-tune")

    assert caught.value.code == "invalid_file_format"


def test_parse_multipart_keeps_binary_and_rfc2231_filenames() -> None:
    boundary = "XyZ"
    data = b"\x00\xff\r\nline\r\n"
    body = (
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="purpose"\r\n\r\n'
        b"fine-tune\r\n"
        b"--XyZ\r\n"
        b"Content-Disposition: form-data; name=\"file\"; filename*=utf-8''na%C3%AFve.jsonl\r\n"
        b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n--XyZ--\r\n"
    )

    parts = parse_multipart(f"multipart/form-data; boundary={boundary}", body)

    assert parts["purpose"].data == b"fine-tune"
    assert parts["file"].filename == "naïve.jsonl"
    assert parts["file"].data == data


# -- authentication and validation -----------------------------------------------------------


def test_bad_key_is_rejected_with_invalid_api_key(simulator: SimulatorServer) -> None:
    bad = openai.OpenAI(base_url=simulator.base_url, api_key="sk-bad-0000000000", max_retries=0)

    with pytest.raises(openai.AuthenticationError) as caught:
        bad.fine_tuning.jobs.list()

    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert "Incorrect API key" in caught.value.body["message"]
    assert simulator.state.request_log == [("jobs.list", "401")]


def test_missing_authorization_header_is_401(simulator: SimulatorServer) -> None:
    with socket.create_connection((simulator.host, simulator.port)) as sock:
        sock.sendall(b"GET /v1/fine_tuning/jobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk

    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401")
    assert json.loads(body)["error"]["code"] == "invalid_api_key"


def test_configured_key_set_replaces_the_default_rule(clock: FakeClock) -> None:
    with SimulatorServer(api_keys={"sk-only-this"}, clock=clock) as server:
        good = openai.OpenAI(base_url=server.base_url, api_key="sk-only-this", max_retries=0)
        other = openai.OpenAI(base_url=server.base_url, api_key="sk-anything", max_retries=0)

        assert good.fine_tuning.jobs.list().data == []
        with pytest.raises(openai.AuthenticationError):
            other.fine_tuning.jobs.list()


def test_unknown_model_is_400_model_not_available(
    client: openai.OpenAI, training_file: Path, simulator: SimulatorServer
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        create_job(client, training_file, model="gpt-9-ultra")

    assert caught.value.code == "model_not_available"
    assert caught.value.param == "model"
    assert "gpt-9-ultra" in caught.value.body["message"]
    assert simulator.state.jobs == []


def test_unknown_training_file_is_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(model=MODEL, training_file="file-doesnotexist")

    assert caught.value.param == "training_file"


def test_hyperparameters_in_both_places_are_rejected(
    client: openai.OpenAI, training_file: Path
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        create_job(client, training_file, hyperparameters={"n_epochs": 3})

    assert caught.value.param == "hyperparameters"


def test_out_of_range_hyperparameter_names_the_field(
    client: openai.OpenAI, training_file: Path
) -> None:
    method = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 0}}}

    with pytest.raises(openai.BadRequestError) as caught:
        create_job(client, training_file, method=method)

    assert caught.value.param == "method.supervised.hyperparameters.n_epochs"


def test_unknown_url_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.get("/nothing/here", cast_to=object)

    assert "Invalid URL" in caught.value.body["message"]


# -- job lifecycle ---------------------------------------------------------------------------


def test_job_moves_through_statuses_as_the_clock_advances(
    client: openai.OpenAI, clock: FakeClock, training_file: Path
) -> None:
    job = create_job(client, training_file, suffix="invoices", seed=7)
    assert job.id.startswith("ftjob-")
    assert job.object == "fine_tuning.job"
    assert job.status == "validating_files"
    assert job.fine_tuned_model is None
    assert job.hyperparameters.n_epochs == 2
    assert job.hyperparameters.batch_size == "auto"

    clock.advance(5)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "queued"

    clock.advance(5)
    running = client.fine_tuning.jobs.retrieve(job.id)
    assert running.status == "running"
    # 12 examples, batch size resolved to 1, two epochs.
    assert running.hyperparameters.batch_size == 1
    assert running.estimated_finish is not None

    clock.advance(1000)
    done = client.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded"
    assert re.fullmatch(
        r"ft:gpt-4\.1-mini-2025-04-14:curator-sim:invoices:[A-Za-z0-9]{8}", done.fine_tuned_model
    )
    assert done.trained_tokens and done.trained_tokens > 0
    assert done.finished_at is not None and done.finished_at >= done.created_at
    assert done.seed == 7
    assert done.error is None
    assert len(done.result_files) == 1


def test_events_metrics_and_checkpoints_of_a_finished_job(
    client: openai.OpenAI, clock: FakeClock, training_file: Path, validation_file: Path
) -> None:
    job = create_job(client, training_file, validation_file=upload(client, validation_file))
    clock.advance(1000)

    events = list(client.fine_tuning.jobs.list_events(job.id, limit=7))  # pages of 7
    chronological = list(reversed(events))
    messages = [e.message for e in chronological]

    assert len({e.id for e in events}) == len(events)
    assert all(e.id.startswith("ftevent-") and e.object == "fine_tuning.job.event" for e in events)
    assert messages[0] == f"Created fine-tuning job: {job.id}"
    assert messages[1].startswith("Validating training file: file-")
    assert "and validation file: file-" in messages[1]
    assert messages.index("Files validated, moving job to queued state") < messages.index(
        "Fine-tuning job started"
    )
    assert any(m.startswith("New fine-tuned model created: ft:") for m in messages)
    assert messages[-1] == "The job has successfully completed"

    metrics = [e for e in chronological if e.type == "metrics"]
    assert [m.data["step"] for m in metrics] == list(range(1, 25))
    assert metrics[9].message.startswith("Step 10/24: training loss=")
    assert {"step", "train_loss", "valid_loss", "train_mean_token_accuracy"} <= set(metrics[0].data)
    losses = [m.data["train_loss"] for m in metrics]
    assert sum(losses[:6]) / 6 > sum(losses[-6:]) / 6

    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert [c.step_number for c in checkpoints] == [24, 12]  # newest first
    assert all(c.id.startswith("ftckpt_") for c in checkpoints)
    final = client.fine_tuning.jobs.retrieve(job.id).fine_tuned_model
    assert checkpoints[0].fine_tuned_model_checkpoint == final
    assert checkpoints[1].fine_tuned_model_checkpoint == f"{final}:ckpt-step-12"
    assert checkpoints[0].metrics.full_valid_loss is not None


def test_result_file_is_base64_csv_of_every_step(
    client: openai.OpenAI, clock: FakeClock, training_file: Path
) -> None:
    job = create_job(client, training_file)
    clock.advance(1000)
    result_id = client.fine_tuning.jobs.retrieve(job.id).result_files[0]

    meta = client.files.retrieve(result_id)
    text = base64.b64decode(client.files.content(result_id).content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))

    assert meta.purpose == "fine-tune-results"
    assert meta.filename == "step_metrics.csv"
    assert [int(r["step"]) for r in rows] == list(range(1, 25))
    assert float(rows[0]["train_loss"]) > float(rows[-1]["train_loss"])
    assert rows[0]["valid_loss"] == ""  # no validation file was given


def test_same_seed_gives_the_same_curve(
    client: openai.OpenAI, clock: FakeClock, training_file: Path
) -> None:
    first = create_job(client, training_file, seed=42)
    second = create_job(client, training_file, seed=42)
    other = create_job(client, training_file, seed=43)
    clock.advance(1000)

    def losses(job_id: str) -> list[float]:
        events = client.fine_tuning.jobs.list_events(job_id, limit=100).data
        return [e.data["train_loss"] for e in events if e.type == "metrics"]

    assert losses(first.id) == losses(second.id)
    assert losses(first.id) != losses(other.id)


def test_auto_epochs_grow_for_tiny_datasets(
    client: openai.OpenAI, clock: FakeClock, training_file: Path
) -> None:
    job = create_job(client, training_file, method=None)
    clock.advance(10)

    # OpenAI raises the epoch count so a tiny set still sees ~100 examples in training.
    assert client.fine_tuning.jobs.retrieve(job.id).hyperparameters.n_epochs == 9


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        (
            [
                chat_example(1),
                chat_example(2),
                '{"messages": [',
                *[chat_example(i) for i in range(10)],
            ],
            "line 3: invalid json",
        ),
        ([chat_example(1), {"prompt": "x", "completion": "y"}], "line 2: missing 'messages'"),
        (
            [
                *[chat_example(i) for i in range(11)],
                {"messages": [{"role": "user", "content": "hi"}]},
            ],
            "line 12: no assistant message",
        ),
        (
            [
                {
                    "messages": [
                        {"role": "bot", "content": "x"},
                        {"role": "assistant", "content": "y"},
                    ]
                }
            ],
            "line 1, message 1: unrecognized role 'bot'",
        ),
        (
            [chat_example(i) for i in range(4)],
            "has 4 example(s), but fine-tuning requires at least 10",
        ),
    ],
    ids=["invalid-json", "missing-messages", "no-assistant", "bad-role", "too-few"],
)
def test_invalid_training_file_fails_during_validation(
    client: openai.OpenAI,
    clock: FakeClock,
    make_jsonl: Callable[[str, list[Any]], Path],
    records: list[Any],
    expected: str,
) -> None:
    job = create_job(client, make_jsonl("bad.jsonl", records))
    assert job.status == "validating_files"

    clock.advance(5)
    failed = client.fine_tuning.jobs.retrieve(job.id)

    assert failed.status == "failed"
    assert failed.error.code == "invalid_training_file"
    assert failed.error.param == "training_file"
    assert failed.error.message.startswith("The job failed due to an invalid training file.")
    assert expected in failed.error.message.lower()
    assert failed.fine_tuned_model is None
    latest = client.fine_tuning.jobs.list_events(job.id, limit=1).data[0]
    assert latest.level == "error"
    clock.advance(1000)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "failed"


def test_invalid_validation_file_names_the_validation_file(
    client: openai.OpenAI,
    clock: FakeClock,
    training_file: Path,
    make_jsonl: Callable[[str, list[Any]], Path],
) -> None:
    bad = upload(client, make_jsonl("val.jsonl", ["not json"]))
    job = create_job(client, training_file, validation_file=bad)
    clock.advance(5)

    error = client.fine_tuning.jobs.retrieve(job.id).error
    assert error.code == "invalid_validation_file"
    assert error.param == "validation_file"
    assert "Line 1" in error.message


def test_cancel_a_running_job(client: openai.OpenAI, clock: FakeClock, training_file: Path) -> None:
    job = create_job(client, training_file)
    clock.advance(15)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "running"

    cancelled = client.fine_tuning.jobs.cancel(job.id)
    clock.advance(1000)

    assert cancelled.status == "cancelled"
    after = client.fine_tuning.jobs.retrieve(job.id)
    assert after.status == "cancelled"
    assert after.fine_tuned_model is None
    assert after.result_files == []
    assert client.fine_tuning.jobs.list_events(job.id, limit=1).data[0].message == (
        "Fine-tuning job cancelled"
    )
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.cancel(job.id)


def test_unknown_job_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve("ftjob-nope")


def test_list_filters_by_metadata_and_paginates(client: openai.OpenAI, training_file: Path) -> None:
    tagged = [
        create_job(client, training_file, metadata={"curator_job": str(n), "site": "a"})
        for n in range(3)
    ]
    untagged = create_job(client, training_file)

    only_one = client.fine_tuning.jobs.list(metadata={"curator_job": "1"}).data
    by_site = client.fine_tuning.jobs.list(metadata={"site": "a"}).data
    none = client.fine_tuning.jobs.list(metadata={"curator_job": "9"}).data
    first_page = client.fine_tuning.jobs.list(limit=2)
    every = list(client.fine_tuning.jobs.list(limit=2))

    assert [j.id for j in only_one] == [tagged[1].id]
    assert [j.id for j in by_site] == [j.id for j in reversed(tagged)]  # newest first
    assert none == []
    assert first_page.has_more is True
    assert [j.id for j in first_page.data] == [untagged.id, tagged[2].id]
    assert [j.id for j in every] == [untagged.id, *[j.id for j in reversed(tagged)]]


def test_list_with_null_metadata_returns_untagged_jobs(
    client: openai.OpenAI, training_file: Path
) -> None:
    create_job(client, training_file, metadata={"k": "v"})
    plain = create_job(client, training_file)

    found = client.fine_tuning.jobs.list(extra_query={"metadata": "null"}).data

    assert [j.id for j in found] == [plain.id]


def test_fine_tuning_a_fine_tuned_model_keeps_the_base_name(
    client: openai.OpenAI, clock: FakeClock, training_file: Path
) -> None:
    first = create_job(client, training_file)
    clock.advance(1000)
    tuned = client.fine_tuning.jobs.retrieve(first.id).fine_tuned_model

    second = create_job(client, training_file, model=tuned)
    clock.advance(1000)

    again = client.fine_tuning.jobs.retrieve(second.id)
    assert again.model == tuned
    assert again.fine_tuned_model.startswith("ft:gpt-4.1-mini-2025-04-14:curator-sim::")


# -- faults ----------------------------------------------------------------------------------


def test_parse_faults_reads_the_spec_language() -> None:
    plan = parse_faults("jobs.create=500, 429 ;files.create=timeout;jobs.list=429daily")

    assert [str(f) for f in plan["jobs.create"]] == ["500", "429"]
    assert [str(f) for f in plan["files.create"]] == ["timeout"]
    assert [f.kind for f in plan["jobs.list"]] == ["daily_limit"]


@pytest.mark.parametrize(
    "spec", ["jobs.make=500", "jobs.create=200", "jobs.create=slow", "jobs.create"]
)
def test_parse_faults_rejects_bad_specs(spec: str) -> None:
    with pytest.raises(FaultSpecError):
        parse_faults(spec)


def test_faults_answer_in_order_then_the_endpoint_recovers(
    client: openai.OpenAI, simulator: SimulatorServer, training_file: Path
) -> None:
    file_id = upload(client, training_file)
    simulator.set_faults("jobs.create=500,429,503")

    errors = []
    for _ in range(3):
        with pytest.raises(openai.APIStatusError) as caught:
            client.fine_tuning.jobs.create(model=MODEL, training_file=file_id)
        errors.append(caught.value)
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=file_id)

    assert [e.status_code for e in errors] == [500, 429, 503]
    assert errors[1].code == "rate_limit_exceeded"
    assert errors[1].response.headers["retry-after"] == "1"
    assert [j["id"] for j in simulator.state.jobs] == [job.id]


def test_daily_limit_fault_is_a_429_that_says_daily_limit(
    client: openai.OpenAI, simulator: SimulatorServer, training_file: Path
) -> None:
    file_id = upload(client, training_file)
    simulator.set_faults("jobs.create=429daily")

    with pytest.raises(openai.RateLimitError) as caught:
        client.fine_tuning.jobs.create(model=MODEL, training_file=file_id)

    assert caught.value.code == "daily_limit_exceeded"
    assert "daily limit" in caught.value.body["message"]
    assert simulator.state.jobs == []


def test_timeout_fault_drops_the_reply_but_the_upload_happened(
    client: openai.OpenAI, simulator: SimulatorServer, training_file: Path
) -> None:
    simulator.set_faults("files.create=timeout")

    with pytest.raises(openai.APIConnectionError), training_file.open("rb") as handle:
        client.files.create(file=handle, purpose="fine-tune")

    assert [f["filename"] for f in simulator.state.files] == ["train.jsonl"]
    assert simulator.state.request_log[-1] == ("files.create", "timeout")
    # The next call on the same client works normally.
    assert client.files.retrieve(simulator.state.files[0]["id"]).status == "processed"


def test_faults_given_at_start_apply(clock: FakeClock) -> None:
    with SimulatorServer(faults="jobs.list=502", clock=clock) as server:
        sdk = openai.OpenAI(base_url=server.base_url, api_key=TEST_KEY, max_retries=0)

        with pytest.raises(openai.InternalServerError):
            sdk.fine_tuning.jobs.list()
        assert sdk.fine_tuning.jobs.list().data == []


# -- webhooks --------------------------------------------------------------------------------


def test_succeeded_webhook_verifies_with_the_sdk(
    clock: FakeClock, webhook_receiver: WebhookReceiver, training_file: Path
) -> None:
    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    with SimulatorServer(
        clock=clock, webhook_url=webhook_receiver.url, webhook_secret=secret
    ) as server:
        sdk = openai.OpenAI(base_url=server.base_url, api_key=TEST_KEY, max_retries=0)
        job = create_job(sdk, training_file)
        clock.advance(1000)  # nobody polls: the simulator must notice the finish itself

        [delivery] = webhook_receiver.wait_for(1)

    event = sdk.webhooks.unwrap(delivery.body, delivery.headers, secret=secret)
    assert event.type == "fine_tuning.job.succeeded"
    assert event.data.id == job.id
    assert delivery.headers["webhook-id"].startswith("wh_")
    assert delivery.headers["webhook-signature"].startswith("v1,")

    tampered = delivery.body.replace(job.id.encode(), b"ftjob-someoneelse")
    with pytest.raises(openai.InvalidWebhookSignatureError):
        sdk.webhooks.unwrap(tampered, delivery.headers, secret=secret)
    wrong_secret = "whsec_" + base64.b64encode(b"x" * 32).decode()
    with pytest.raises(openai.InvalidWebhookSignatureError):
        sdk.webhooks.unwrap(delivery.body, delivery.headers, secret=wrong_secret)


def test_failed_and_cancelled_jobs_send_their_webhooks(
    clock: FakeClock,
    webhook_receiver: WebhookReceiver,
    training_file: Path,
    make_jsonl: Callable[[str, list[Any]], Path],
) -> None:
    with SimulatorServer(clock=clock, webhook_url=webhook_receiver.url) as server:
        sdk = openai.OpenAI(base_url=server.base_url, api_key=TEST_KEY, max_retries=0)
        cancelled = create_job(sdk, training_file)
        sdk.fine_tuning.jobs.cancel(cancelled.id)
        failed = create_job(sdk, make_jsonl("bad.jsonl", ["{"]))
        clock.advance(5)

        deliveries = webhook_receiver.wait_for(2)
        secret = server.webhook_secret

    assert secret is not None and secret.startswith("whsec_")
    events = {
        e.data.id: e.type
        for e in (sdk.webhooks.unwrap(d.body, d.headers, secret=secret) for d in deliveries)
    }
    assert events == {
        cancelled.id: "fine_tuning.job.cancelled",
        failed.id: "fine_tuning.job.failed",
    }


def test_webhook_delivery_is_retried_with_the_same_id(
    clock: FakeClock, webhook_receiver: WebhookReceiver, training_file: Path
) -> None:
    webhook_receiver.fail_with = [500]
    with SimulatorServer(clock=clock, webhook_url=webhook_receiver.url) as server:
        sdk = openai.OpenAI(base_url=server.base_url, api_key=TEST_KEY, max_retries=0)
        job = create_job(sdk, training_file)
        sdk.fine_tuning.jobs.cancel(job.id)

        first, second = webhook_receiver.wait_for(2)
        assert server.webhooks is not None
        assert server.webhooks.wait_idle()
        assert server.webhooks.deliveries[0].delivered
        assert server.webhooks.deliveries[0].attempts == 2

    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body


def test_sign_matches_the_standard_webhooks_example() -> None:
    # The worked example of the Standard Webhooks specification.
    signature = sign(
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        webhook_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        timestamp=1614265330,
        payload=b'{"test": 2432232314}',
    )

    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


# -- state and command -----------------------------------------------------------------------


def test_state_rejects_non_positive_speed() -> None:
    with pytest.raises(ValueError):
        SimulatorState(speed=0)


def test_command_rejects_a_bad_fault_spec() -> None:
    with pytest.raises(CommandError, match="unknown endpoint"):
        call_command("run_openai_simulator", "--port", "0", "--faults", "nope=500")
