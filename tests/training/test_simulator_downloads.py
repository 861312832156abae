"""What a finished simulated fine-tune hands out, as the vendors hand it out: Together a
``.tar.zst`` (the adapter of a LoRA job, the full model of a full one), Fireworks signed URLs
per adapter file."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import fireworks
import httpx
import together
import zstandard

from tests.training.conftest import FakeClock, chat_example, write_jsonl
from training.simulator import SimulatorServer

KEY = "sk-test-downloads"


def together_job(server: SimulatorServer, clock: FakeClock, tmp_path: Path, *, lora: bool) -> str:
    client = together.Together(api_key=KEY, base_url=f"{server.url}/together", max_retries=0)
    path = write_jsonl(tmp_path / "train.jsonl", [chat_example(i) for i in range(12)])
    uploaded = client.files.upload(path, purpose="fine-tune", check=False)
    job = client.fine_tuning.create(
        training_file=uploaded.id,
        model="meta-llama/Llama-3.2-3B-Instruct",
        lora=lora,
        batch_size=8,
    )
    clock.advance(100_000)
    assert client.fine_tuning.retrieve(job.id).status == "completed"
    return job.id


def members(packed: bytes) -> set[str]:
    raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(packed)).read()
    with tarfile.open(fileobj=io.BytesIO(raw)) as archive:
        return set(archive.getnames())


def download(server: SimulatorServer, job_id: str, checkpoint: str) -> httpx.Response:
    return httpx.get(
        f"{server.url}/together/v1/finetune/download",
        params={"ft_id": job_id, "checkpoint": checkpoint},
        headers={"authorization": f"Bearer {KEY}"},
    )


def test_together_hands_out_a_lora_adapter_as_tar_zst(
    simulator: SimulatorServer, clock: FakeClock, tmp_path: Path
) -> None:
    job_id = together_job(simulator, clock, tmp_path, lora=True)
    response = download(simulator, job_id, "adapter")
    assert response.status_code == 200
    assert response.headers["content-disposition"].endswith('-adapter.tar.zst"')
    assert {"adapter_config.json", "adapter_model.safetensors"} <= members(response.content)


def test_together_hands_out_a_full_fine_tune_as_the_full_model_only(
    simulator: SimulatorServer, clock: FakeClock, tmp_path: Path
) -> None:
    job_id = together_job(simulator, clock, tmp_path, lora=False)
    assert download(simulator, job_id, "adapter").status_code == 400
    response = download(simulator, job_id, "model_output_path")
    assert response.status_code == 200
    assert {"config.json", "model.safetensors"} <= members(response.content)


def test_fireworks_hands_out_signed_urls_for_the_adapter_files(
    simulator: SimulatorServer, clock: FakeClock, tmp_path: Path
) -> None:
    account = "curator-sim"
    client = fireworks.Fireworks(
        api_key=KEY, account_id=account, base_url=f"{simulator.url}/fireworks", max_retries=0
    )
    client.datasets.create(dataset_id="train", dataset={"displayName": "train"})
    path = write_jsonl(tmp_path / "train.jsonl", [chat_example(i) for i in range(12)])
    with path.open("rb") as handle:
        client.datasets.upload("train", file=("train.jsonl", handle, "application/jsonl"))
    client.supervised_fine_tuning_jobs.create(
        dataset=f"accounts/{account}/datasets/train",
        base_model="accounts/fireworks/models/llama-v3p2-3b-instruct",
        supervised_fine_tuning_job_id="dl-job",
        output_model="dl-model",
    )
    clock.advance(100_000)
    urls = client.models.get_download_endpoint("dl-model").filename_to_signed_urls or {}
    assert "adapter_config.json" in urls
    config = httpx.get(urls["adapter_config.json"])
    assert config.status_code == 200 and b"llama-v3p2-3b-instruct" in config.content
