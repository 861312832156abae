"""Local LoRA engine on CPU: a tiny Llama and a tokenizer trained here, nothing downloaded."""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.training.tiny_model import CHATML, save_tiny_base
from training.local import LoraSettings, NullCallbacks, TrainSettings, defaults_as_dict
from training.local.modelcard import render_model_card

pytestmark = pytest.mark.filterwarnings(
    # peft 0.21 still asks transformers 5 for the old attribute name.
    "ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"
)

WORDS = ["apple", "river", "stone", "cloud", "tiger", "lemon", "piano", "comet"]
CHATML_GENERATION = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['role'] == 'assistant' %}{% generation %}{{ m['content'] }}<|im_end|>"
    "{% endgeneration %}{% else %}{{ m['content'] }}<|im_end|>{% endif %}\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Renders earlier assistant turns as "..." (as templates that drop past reasoning do).
CHATML_HIDING_HISTORY = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['role'] == 'assistant' and not loop.last %}...{% else %}{{ m['content'] }}"
    "{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SYSTEM = "you repeat words"


def _conversation(word: str, *, second: str | None = None, weight0: bool = False) -> dict:
    first_reply: dict[str, Any] = {"role": "assistant", "content": f"{word} {word} {word}"}
    if weight0:
        first_reply["weight"] = 0
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"say {word}"},
        first_reply,
    ]
    if second:
        messages += [
            {"role": "user", "content": f"say {second}"},
            {"role": "assistant", "content": f"{second} {second} {second}"},
        ]
    return {"messages": messages}


def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


# Fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_dir(torch_stack: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tokenizer trained on this file's words and a 2-layer Llama sized to it."""
    corpus = [f"system user assistant {SYSTEM} say {word} {word} {word}" for word in WORDS]
    return save_tiny_base(
        tmp_path_factory.mktemp("base"), architecture="llama", corpus=corpus * 10, vocab_size=320
    )


@pytest.fixture(scope="module")
def tokenizer(base_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(base_dir, local_files_only=True)


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("snapshot")
    train = [_conversation(word) for word in WORDS * 4]
    train.append(_conversation("apple", second="river", weight0=True))
    validation = [_conversation(word) for word in WORDS]
    return {
        "train": _write_jsonl(directory / "train.jsonl", train),
        "validation": _write_jsonl(directory / "validation.jsonl", validation),
    }


class Recorder(NullCallbacks):
    def __init__(self, stop_after: int | None = None) -> None:
        self.steps: list[tuple[int, int, float, float, int]] = []
        self.evals: list[tuple[int, float]] = []
        self.checkpoints: list[tuple[int, Path]] = []
        self.events: list[tuple[str, str]] = []
        self.stop_after = stop_after
        self.stop_checks = 0

    def on_event(self, level: str, message: str) -> None:
        self.events.append((level, message))

    def on_step(
        self, step: int, total_steps: int, train_loss: float, learning_rate: float, tokens: int
    ) -> None:
        self.steps.append((step, total_steps, train_loss, learning_rate, tokens))

    def on_eval(self, step: int, valid_loss: float) -> None:
        self.evals.append((step, valid_loss))

    def on_checkpoint(self, step: int, path: Path) -> None:
        self.checkpoints.append((step, path))

    def should_stop(self) -> bool:
        self.stop_checks += 1
        return self.stop_after is not None and len(self.steps) >= self.stop_after


TRAIN = TrainSettings(
    epochs=1,
    max_steps=30,
    learning_rate=1e-2,
    batch_size=2,
    max_seq_length=128,
    eval_every=10,
    save_every=20,
    warmup_ratio=0.1,
    seed=7,
)
LORA = LoraSettings(rank=8, alpha=16, dropout=0.0)


@pytest.fixture(scope="module")
def dataset_info(snapshot: dict[str, Path]) -> dict[str, Any]:
    digests = {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in snapshot.values()
    }
    return {"dataset": "repeat | words", "version": 3, "sha256": digests}


@pytest.fixture(scope="module")
def trained(
    base_dir: Path,
    snapshot: dict[str, Path],
    dataset_info: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Any, Recorder, Path]:
    output = tmp_path_factory.mktemp("run")
    recorder = Recorder()
    result = train_snapshot(
        base_dir, snapshot, output, recorder, dataset_info=dataset_info, merge=True
    )
    return result, recorder, output


def train_snapshot(
    base_dir: Path, snapshot: dict[str, Path], output: Path, recorder: Recorder, **options: Any
) -> Any:
    """The module's 30-step run (TRAIN, LORA) of the snapshot on CPU."""
    from training.local.engine import train_lora

    return train_lora(
        base_model=str(base_dir),
        train_path=snapshot["train"],
        validation_path=snapshot["validation"],
        output_dir=output,
        lora=LORA,
        train=TRAIN,
        callbacks=recorder,
        device="cpu",
        **options,
    )


# Torch-free surface --------------------------------------------------------------------------


def test_package_and_torch_free_modules_do_not_import_torch() -> None:
    code = (
        "import sys, training.local, training.local.data, training.local.modelcard\n"
        "heavy = [m for m in ('torch', 'transformers', 'peft') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == ""


def test_defaults_for_the_launch_page() -> None:
    defaults = defaults_as_dict()
    assert defaults["lora"] == {
        "rank": 16,
        "alpha": 32,
        "dropout": 0.05,
        "target_modules": "all-linear",
    }
    train = defaults["train"]
    assert train["learning_rate"] == 2e-4
    assert train["max_seq_length"] == 2048
    assert train["packing"] is True
    assert train["bf16"] == "auto"
    assert json.loads(json.dumps(defaults)) == defaults
    assert TrainSettings.from_dict(train) == TrainSettings()


def test_settings_reject_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ValueError, match="unknown setting"):
        TrainSettings.from_dict({"learning_rate": 1e-4, "lr_typo": 1})
    with pytest.raises(ValueError, match="rank"):
        LoraSettings(rank=0)
    with pytest.raises(ValueError, match="bf16"):
        TrainSettings(bf16="sometimes")  # type: ignore[arg-type]


def test_model_card_escapes_user_text_and_lists_digests() -> None:
    card = render_model_card(
        base_model="org/base",
        dataset_info={"dataset": "a|b\n<script>", "version": 2, "sha256": {"train.jsonl": "f0"}},
        lora={"rank": 16},
        train={"learning_rate": 2e-4},
        metrics={"valid_loss": 1.23456},
    )
    front = card.split("---")[1]
    assert 'base_model: "org/base"' in front
    assert 'datasets: ["a|b\\n<script>"]' in front
    assert "<script>" not in card.split("---", 2)[2]
    assert "a\\|b \\<script\\>" in card
    assert "| train.jsonl | f0 |" in card
    assert "| valid_loss | 1.235 |" in card


# Data ----------------------------------------------------------------------------------------


def _trained_text(tokenizer: Any, example: Any) -> str:
    from training.local.data import IGNORE_INDEX

    return tokenizer.decode([label for label in example.labels if label != IGNORE_INDEX])


def test_labels_train_only_weighted_assistant_tokens(tokenizer: Any) -> None:
    from training.local.data import IGNORE_INDEX, DataStats, tokenize_conversation

    record = _conversation("apple", second="river", weight0=True)
    stats = DataStats()
    [example] = tokenize_conversation(tokenizer, record, max_seq_length=512, stats=stats)

    full = tokenizer.apply_chat_template(
        [{k: v for k, v in m.items() if k != "weight"} for m in record["messages"]],
        tokenize=False,
    )
    assert tokenizer.decode(example.input_ids) == full
    # The weight-0 reply, the system and user turns and the headers are all masked.
    assert _trained_text(tokenizer, example) == "river river river<|im_end|>\n"
    trained_positions = [i for i, label in enumerate(example.labels) if label != IGNORE_INDEX]
    assert trained_positions == list(range(trained_positions[0], len(example.labels)))
    prefix = tokenizer.decode(example.input_ids[: trained_positions[0]])
    assert prefix.endswith("say river<|im_end|>\n<|im_start|>assistant\n")
    assert stats.strategies == {"prefix": 1}


def test_generation_blocks_are_used_when_the_template_has_them(tokenizer: Any) -> None:
    from training.local.data import DataStats, tokenize_conversation

    tagged = tokenizer.__class__.from_pretrained(tokenizer.name_or_path, local_files_only=True)
    tagged.chat_template = CHATML_GENERATION
    record = _conversation("apple", second="river", weight0=True)
    record["messages"][2]["weight"] = 1
    stats = DataStats()
    [example] = tokenize_conversation(tagged, record, max_seq_length=512, stats=stats)
    assert stats.strategies == {"generation_blocks": 1}
    assert (
        _trained_text(tagged, example) == "apple apple apple<|im_end|>river river river<|im_end|>"
    )

    record["messages"][2]["weight"] = 0
    [example] = tokenize_conversation(tagged, record, max_seq_length=512)
    assert _trained_text(tagged, example) == "river river river<|im_end|>"


def test_template_that_rewrites_history_trains_each_turn_as_the_last(tokenizer: Any) -> None:
    from training.local.data import DataStats, tokenize_conversation

    hiding = tokenizer.__class__.from_pretrained(tokenizer.name_or_path, local_files_only=True)
    hiding.chat_template = CHATML_HIDING_HISTORY
    record = _conversation("apple", second="river")
    stats = DataStats()
    first, second = tokenize_conversation(hiding, record, max_seq_length=512, stats=stats)
    assert stats.strategies == {"per_turn": 1}
    assert _trained_text(hiding, first) == "apple apple apple<|im_end|>\n"
    assert _trained_text(hiding, second) == "river river river<|im_end|>\n"
    assert "..." in hiding.decode(second.input_ids)


def test_truncation_and_nothing_to_train(tokenizer: Any) -> None:
    from training.local.data import DataStats, tokenize_conversation

    record = _conversation("apple", second="river")
    stats = DataStats()
    [example] = tokenize_conversation(tokenizer, record, max_seq_length=24, stats=stats)
    assert len(example) == 24
    assert stats.truncated == 1
    # Cut before any assistant token: nothing to learn, so no example.
    assert tokenize_conversation(tokenizer, record, max_seq_length=6, stats=stats) == []
    weightless = _conversation("apple", weight0=True)
    assert tokenize_conversation(tokenizer, weightless, max_seq_length=512, stats=stats) == []
    assert stats.skipped == 2


def test_tool_call_arguments_are_rendered_as_objects() -> None:
    from training.local.data import normalize_message

    message = {
        "role": "assistant",
        "content": None,
        "weight": 1,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}
        ],
    }
    normalized = normalize_message(message)
    assert "content" not in normalized and "weight" not in normalized
    assert normalized["tool_calls"][0]["function"]["arguments"] == {"x": 1}
    assert message["tool_calls"][0]["function"]["arguments"] == '{"x": 1}'


def test_bad_line_is_named(tmp_path: Path, tokenizer: Any) -> None:
    from training.local.data import DataError, load_examples

    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(_conversation("apple")) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"train\.jsonl line 2: invalid JSON"):
        load_examples(path, tokenizer, max_seq_length=128)


def test_template_errors_skip_the_line_and_keep_the_rest(tmp_path: Path, tokenizer: Any) -> None:
    from training.local.data import load_examples

    strict = tokenizer.__class__.from_pretrained(tokenizer.name_or_path, local_files_only=True)
    strict.chat_template = (
        "{% if messages[0]['role'] != 'system' %}{{ raise_exception('needs a system turn') }}"
        "{% endif %}" + CHATML
    )
    bad = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}]}
    path = _write_jsonl(tmp_path / "train.jsonl", [_conversation("apple"), bad])
    examples, stats = load_examples(path, strict, max_seq_length=128)
    assert len(examples) == 1
    assert stats.skipped == 1
    assert stats.problems == ["train.jsonl line 2: chat template: needs a system turn"]


def test_packing_keeps_examples_whole_and_targets_inside_them() -> None:
    from training.local.data import IGNORE_INDEX, TokenizedExample, pack_examples

    sizes = [50, 40, 30, 30, 20, 20, 10, 64, 5]
    examples = [
        TokenizedExample(
            input_ids=[1000 * n + i for i in range(size)],
            labels=[IGNORE_INDEX] * (size // 2) + [1000 * n + i for i in range(size // 2, size)],
        )
        for n, size in enumerate(sizes)
    ]
    rows = pack_examples(examples, row_length=64)
    assert all(len(row) <= 64 for row in rows)
    assert len(rows) == math.ceil(sum(sizes) / 64)  # best fit is tight on this mix
    tokens = sorted(token for row in rows for token in row.input_ids)
    assert tokens == sorted(token for example in examples for token in example.input_ids)
    for row in rows:
        starts = [i for i, position in enumerate(row.position_ids) if position == 0]
        for begin, end in zip(starts, [*starts[1:], len(row)], strict=True):
            segment, targets = row.input_ids[begin:end], row.targets[begin:end]
            assert row.position_ids[begin:end] == list(range(end - begin))
            # Each target is the next token of the same example, or ignored.
            for t, target in enumerate(targets):
                assert target == IGNORE_INDEX or target == segment[t + 1]
            assert targets[-1] == IGNORE_INDEX
    assert sum(row.trained_tokens for row in rows) == sum(e.trained_tokens for e in examples)


# Engine --------------------------------------------------------------------------------------


def test_linear_cross_entropy_matches_full_logits(torch_stack: None) -> None:
    import torch

    from training.local.loss import linear_cross_entropy_sum

    torch.manual_seed(0)
    hidden = torch.randn(37, 16, requires_grad=True)
    weight = torch.randn(101, 16)
    targets = torch.randint(0, 101, (37,))
    ours = linear_cross_entropy_sum(hidden, weight, None, targets, chunk=8)
    ours.backward(torch.tensor(0.5))
    grad_ours = hidden.grad.clone()
    hidden.grad = None
    reference = torch.nn.functional.cross_entropy(hidden @ weight.T, targets, reduction="sum")
    reference.backward(torch.tensor(0.5))
    assert torch.allclose(ours, reference, rtol=1e-5)
    assert torch.allclose(grad_ours, hidden.grad, rtol=1e-4, atol=1e-6)


def test_packed_row_loss_equals_separate_losses(base_dir: Path, tokenizer: Any) -> None:
    import torch

    from training.local.batches import collate_rows
    from training.local.data import pack_examples, tokenize_conversation
    from training.local.loss import LossPath
    from training.local.model import apply_lora, load_base_model

    model = load_base_model(
        base_dir, cache_dir=None, bf16=False, attn_implementation="sdpa", device=torch.device("cpu")
    )
    wrapped = apply_lora(model, LoraSettings(rank=4, alpha=8, dropout=0.0))
    wrapped.eval()
    path = LossPath(wrapped, compile_decoder=False)
    examples = [
        tokenize_conversation(tokenizer, _conversation(word), max_seq_length=128)[0]
        for word in ("apple", "tiger", "comet")
    ]
    [row] = pack_examples(examples, row_length=128)
    pad = tokenizer.pad_token_id

    def loss(rows: list, fused: bool) -> float:
        path.fused = fused
        with torch.no_grad():
            return path.loss_sum(collate_rows(rows, pad_id=pad, length=None, pin=False)).item()

    packed = loss([row], fused=True)
    separate = sum(loss(pack_examples([e], row_length=128), fused=True) for e in examples)
    assert packed == pytest.approx(separate, rel=1e-5)
    # The chunked head agrees with the model's own head on the same packed row.
    assert loss([row], fused=False) == pytest.approx(packed, rel=1e-5)


def test_training_lowers_the_loss(trained: tuple) -> None:
    result, recorder, _ = trained
    assert result.status == "completed"
    assert result.steps == 30 == result.total_steps
    assert [s[0] for s in recorder.steps] == list(range(1, 31))
    assert all(s[1] == 30 for s in recorder.steps)
    tokens = [s[4] for s in recorder.steps]
    assert tokens == sorted(tokens) and tokens[0] > 0
    losses = [s[2] for s in recorder.steps]
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5
    # Validation before training, every eval_every steps, and after the last step.
    assert [step for step, _ in recorder.evals] == [0, 10, 20, 30]
    assert recorder.evals[-1][1] < 0.5 * recorder.evals[0][1]
    assert result.valid_loss == recorder.evals[-1][1]


def test_checkpoints_adapter_and_summary(trained: tuple, dataset_info: dict[str, Any]) -> None:
    result, recorder, output = trained
    assert [step for step, _ in recorder.checkpoints] == [20]
    checkpoint = recorder.checkpoints[0][1]
    assert (checkpoint / "adapter_config.json").exists()
    assert (checkpoint / "adapter_model.safetensors").exists()
    assert not (checkpoint / "model.safetensors").exists()  # adapter only
    assert result.adapter_dir == output
    summary = json.loads((output / "training_summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["dataset"] == dataset_info
    assert summary["lora"]["rank"] == 8
    assert summary["train"]["max_steps"] == 30
    assert summary["metrics"]["valid_loss"] == pytest.approx(result.valid_loss)
    assert summary["data"]["train"]["examples"] == 33
    assert len(summary["history"]["train"]) == 30


def test_model_card_describes_the_run(
    trained: tuple, base_dir: Path, dataset_info: dict[str, Any]
) -> None:
    result, _, output = trained
    card = (output / "README.md").read_text()
    assert f'base_model: "{base_dir}"' in card
    assert "repeat \\| words" in card and "version **3**" in card
    for name, digest in dataset_info["sha256"].items():
        assert f"| {name} | {digest} |" in card
    assert "| lora.rank | 8 |" in card
    assert "| train.learning_rate | 0.01 |" in card
    assert f"| valid_loss | {result.valid_loss:.4g} |" in card


def test_adapter_loads_with_peft_and_merged_weights_match(trained: tuple, base_dir: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    result, _, output = trained
    base = AutoModelForCausalLM.from_pretrained(base_dir, local_files_only=True)
    adapted = PeftModel.from_pretrained(base, output).eval()
    merged = AutoModelForCausalLM.from_pretrained(result.merged_dir, local_files_only=True).eval()
    ids = torch.tensor([[1, 5, 9, 30, 2, 40]])
    with torch.no_grad():
        expected = adapted(input_ids=ids).logits
        plain = adapted.get_base_model()
        with adapted.disable_adapter():
            untouched = plain(input_ids=ids).logits
        assert torch.allclose(merged(input_ids=ids).logits, expected, atol=1e-4)
    # The adapter changed the model: training did write weights into it.
    assert not torch.allclose(untouched, expected, atol=1e-3)


def test_generate_samples_returns_text(trained: tuple, base_dir: Path) -> None:
    from training.local.samples import generate_samples

    _, _, output = trained
    prompts = [
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "say tiger"}],
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "say piano"}],
    ]
    after = generate_samples(
        base_model=str(base_dir), adapter_dir=output, prompts=prompts, max_new_tokens=8
    )
    before = generate_samples(
        base_model=str(base_dir), adapter_dir=None, prompts=prompts, max_new_tokens=8
    )
    assert len(after) == len(before) == 2
    assert all(isinstance(text, str) for text in after + before)
    # Thirty steps teach the reply's shape (one word three times), not yet which word.
    for text in after:
        words = text.split()
        assert len(words) == 3 and len(set(words)) == 1 and words[0] in WORDS
    assert after != before


def test_a_resumed_run_trains_the_batches_the_uninterrupted_run_trained(
    trained: tuple, base_dir: Path, snapshot: dict[str, Path], tmp_path: Path
) -> None:
    """The promise of resume: from the step-20 checkpoint, steps 21-30 see the same batches
    (the data position is restored), so their losses and token counts are the uninterrupted
    run's own."""
    _, uninterrupted, _ = trained
    checkpoint = dict(uninterrupted.checkpoints)[20]
    recorder = Recorder()
    result = train_snapshot(base_dir, snapshot, tmp_path, recorder, resume_from=checkpoint)
    assert result.status == "completed" and result.steps == 30
    assert ("info", "Resumed from the checkpoint at step 20 of 30") in recorder.events
    later = uninterrupted.steps[20:]
    assert [s[0] for s in recorder.steps] == [s[0] for s in later] == list(range(21, 31))
    assert [s[4] for s in recorder.steps] == [s[4] for s in later]
    assert [s[2] for s in recorder.steps] == pytest.approx([s[2] for s in later], rel=1e-4)
    assert [s[3] for s in recorder.steps] == pytest.approx([s[3] for s in later], rel=1e-6)


def test_cancel_stops_at_the_next_step(
    base_dir: Path, snapshot: dict[str, Path], tmp_path: Path
) -> None:
    from training.local.engine import train_lora

    recorder = Recorder(stop_after=3)
    result = train_lora(
        base_model=str(base_dir),
        train_path=snapshot["train"],
        validation_path=None,
        output_dir=tmp_path,
        lora=LORA,
        train=TrainSettings(max_steps=20, batch_size=2, max_seq_length=128, save_every=2),
        callbacks=recorder,
        device="cpu",
    )
    assert result.status == "cancelled"
    assert result.steps == 3
    assert [s[0] for s in recorder.steps] == [1, 2, 3]
    assert recorder.stop_checks == 4  # asked before every step; the fourth was refused
    assert [step for step, _ in recorder.checkpoints] == [2]
    assert result.adapter_dir is None
    assert not (tmp_path / "adapter_model.safetensors").exists()
    assert not (tmp_path / "training_summary.json").exists()


def test_files_that_differ_from_their_recorded_digest_are_refused(
    base_dir: Path, snapshot: dict[str, Path], tmp_path: Path
) -> None:
    from training.local import TrainingError
    from training.local.engine import train_lora

    with pytest.raises(TrainingError, match=r"train\.jsonl does not match its recorded sha256"):
        train_lora(
            base_model=str(base_dir),
            train_path=snapshot["train"],
            validation_path=snapshot["validation"],
            output_dir=tmp_path,
            lora=LORA,
            train=TRAIN,
            callbacks=NullCallbacks(),
            dataset_info={"sha256": {"train.jsonl": "0" * 64}},
            device="cpu",
        )
    assert list(tmp_path.iterdir()) == []


def test_nothing_to_train_is_a_clear_error(base_dir: Path, tmp_path: Path) -> None:
    from training.local import TrainingError
    from training.local.engine import train_lora

    path = _write_jsonl(tmp_path / "train.jsonl", [_conversation("apple", weight0=True)])
    with pytest.raises(TrainingError, match="no example with assistant tokens"):
        train_lora(
            base_model=str(base_dir),
            train_path=path,
            validation_path=None,
            output_dir=tmp_path / "out",
            lora=LORA,
            train=TRAIN,
            callbacks=NullCallbacks(),
            device="cpu",
        )
