"""The torch-free parts of training: settings, batching, dataset, tokens, command, line format."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from kindred.core.basics.errors import KindredError
from kindred.core.chat.conversations import add_message, create_conversation
from kindred.core.engine.llama import Engine
from kindred.core.learning import feedback
from kindred.core.learning.dataset import Dataset, build_dataset, describe_counts
from kindred.core.session import Session
from kindred.core.training import estimate, runner
from kindred.core.training.config import TrainConfig
from kindred.core.training.data import epoch_batches, padded_tokens, schedule, split_holdout
from kindred.core.training.run import RunDir
from kindred.core.training.tokens import ChatTokenizer, Encoded


def test_the_gui_side_of_training_never_imports_torch() -> None:
    code = ("import sys, kindred.core.training, kindred.core.training.runner, "
            "kindred.core.training.evidence, kindred.cli.teach; "
            "bad = [m for m in ('torch', 'transformers', 'peft') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("change", [
    {"rank": 0}, {"alpha": 0}, {"targets": ()}, {"targets": ("lm_head",)}, {"lr": 0},
    {"epochs": 0}, {"steps": 0}, {"batch_tokens": 8}, {"holdout_fraction": 0.7},
    {"threads": 0},
])
def test_bad_settings_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(KindredError, match="Invalid training setting"):
        replace(TrainConfig(), **change).validated()  # type: ignore[arg-type]


def test_learning_rate_warms_up_then_decays_and_round_trips() -> None:
    cfg = TrainConfig(lr=1e-3, warmup_steps=3)
    rates = [cfg.lr_at(s, 20) for s in range(20)]
    assert rates[0] < rates[1] < rates[2] < rates[3] == pytest.approx(1e-3)
    assert all(a >= b for a, b in itertools.pairwise(rates[3:]))
    assert rates[-1] >= 1e-4
    assert TrainConfig.from_json(json.loads(json.dumps(cfg.to_json()))) == cfg
    # at least min_steps (a single taught item still teaches), else epochs x batches
    assert TrainConfig().total_steps(1) == 8 and TrainConfig().total_steps(5) == 25
    assert TrainConfig(epochs=20).total_steps(2) == 40
    assert TrainConfig(steps=5).total_steps(100) == 5


def test_batches_group_similar_lengths_within_budget_and_are_reproducible() -> None:
    lengths = [10, 200, 12, 190, 11, 205, 50, 52]
    batches = epoch_batches(lengths, 420, seed=1, epoch=0)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(len(b) * max(lengths[i] for i in b) <= 420 for b in batches if len(b) > 1)
    assert {frozenset(b) for b in batches} == {frozenset({1, 3}), frozenset({0, 2, 4}),
                                               frozenset({6, 7}), frozenset({5})}
    assert batches == epoch_batches(lengths, 420, seed=1, epoch=0)
    assert padded_tokens(lengths, batches) <= 1.05 * sum(lengths)
    cfg = TrainConfig(batch_tokens=420, steps=7)
    steps = schedule(lengths, cfg)
    assert len(steps) == 7 and steps == schedule(lengths, cfg)


def test_holdout_only_with_enough_examples_and_deterministic() -> None:
    cfg = TrainConfig()
    assert split_holdout([f"k{i}" for i in range(9)], cfg) == (list(range(9)), [])
    train, held = split_holdout([f"k{i}" for i in range(20)], cfg)
    assert len(held) == 2 and sorted(train + held) == list(range(20))
    assert split_holdout([f"k{i}" for i in range(20)], cfg) == (train, held)


def _teach_everything(session: Session) -> None:
    assistant = session.assistant()
    conv = create_conversation(session.store, assistant.id)
    add_message(session.store, conv.id, "user", "Hi there")
    good = add_message(session.store, conv.id, "assistant", "Hello! How can I help?")
    add_message(session.store, conv.id, "user", "Tell me a joke")
    bad = add_message(session.store, conv.id, "assistant", "No.")
    feedback.rate(session.store, good.id, 1)
    feedback.rate(session.store, bad.id, -1)
    feedback.correct(session.store, bad.id, "Why did the chicken cross the road?")
    feedback.add_example(session.store, assistant.id, "Capital of Peru?", "Lima.")
    feedback.add_preference(session.store, assistant.id, "Call me Sam.")
    off = feedback.add_preference(session.store, assistant.id, "Use French.")
    feedback.edit_feedback(session.store, off.id, active=False)


def test_dataset_has_every_kind_and_a_stable_snapshot(session: Session) -> None:
    _teach_everything(session)
    assistant = session.assistant()
    data = build_dataset(session.store, assistant, "ab" * 32)
    assert data.counts() == {"correction": 2, "liked": 1, "preference": 1, "disliked": 1}
    assert describe_counts(data.counts()).startswith("2 corrected answers, 1 liked answer")
    system = data.examples[0].messages[0]
    assert system["role"] == "system" and "- Call me Sam." in system["content"]
    assert "French" not in system["content"]
    joke = next(e for e in data.examples if e.answer.startswith("Why did"))
    assert (joke.messages[-2]["content"], joke.rejected) == ("Tell me a joke", "No.")
    assert data.not_trained[0]["answer"] == "No."
    again = build_dataset(session.store, assistant, "ab" * 32)
    assert again.to_bytes() == data.to_bytes()
    assert Dataset.from_bytes(data.to_bytes()).to_bytes() == data.to_bytes()
    with pytest.raises(KindredError):
        Dataset.from_bytes(b'{"format": "something else"}')


def test_tokens_match_what_the_engine_sends_at_chat_time(session: Session, engine: Engine,
                                                           model_path: Path) -> None:
    _teach_everything(session)
    data = build_dataset(session.store, session.assistant(), "ab" * 32)
    with ChatTokenizer(model_path) as tokenizer:
        for example in data.examples:
            enc = tokenizer.encode(example)
            assert enc.ids[:enc.n_prompt] == engine.tokenize_chat(example.prompt_messages)
            answer = engine.llm.detokenize(enc.ids[enc.n_prompt:], special=True).decode()
            assert answer.startswith(example.answer) and "<|im_end|>" in answer
            assert Encoded.from_json(json.loads(json.dumps(enc.to_json()))) == enc


def test_command_environment_and_line_parsing(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "runs" / "r1")
    argv = runner.training_command(run, 7, resume=True, python="/py")
    assert argv == ["/py", "-m", "kindred.core.training", str(run.path), "--consent", "7",
                    "--resume"]
    env = runner.training_env({"PATH": "/bin", "HF_HUB_OFFLINE": "0"})
    assert env["HF_HUB_OFFLINE"] == "1" and env["PATH"] == "/bin"
    assert runner.parse_line('{"event": "step", "step": 3}\n') == {"event": "step", "step": 3}
    assert runner.parse_line(b'{"event": "done", "version": "ab"}') == {"event": "done",
                                                                        "version": "ab"}
    for junk in ["", "Traceback", "{not json", '{"no": "event"}', "[1]"]:
        assert runner.parse_line(junk) is None


def test_human_durations() -> None:
    assert [estimate.human(s) for s in (0.2, 45, 200, 7300)] == ["1 s", "45 s", "3 min",
                                                                 "2 h 2 min"]


def test_the_early_stop_waits_until_every_taught_item_was_seen() -> None:
    from kindred.core.training.trainer import _taught_loss

    assert _taught_loss({0: (3.0, 10)}, 2) is None  # item 1 never seen yet
    assert _taught_loss({0: (3.0, 10), 1: (1.0, 10)}, 2) == pytest.approx(0.2)
    assert _taught_loss({}, 0) is None


def test_a_taught_answer_can_leave_its_end_of_turn_as_context(model_path: Path) -> None:
    from kindred.core.learning.dataset import Example
    from kindred.core.training.tokens import ChatTokenizer, Encoded
    from kindred.core.training.trainer import IGNORE, batch_tensors

    example = Example("correction", 1, [{"role": "user", "content": "Lunch?"},
                                        {"role": "assistant", "content": "Ahoy, Sam! Soup."}])
    with ChatTokenizer(model_path) as tokenizer:
        full = tokenizer.encode(example)
        open_end = tokenizer.encode(example, learn_stop=False)
        said = tokenizer.tokenize("Ahoy, Sam! Soup.", add_bos=False)
    assert full.ids == open_end.ids and full.target_end is None
    assert open_end.target_end == open_end.n_prompt + len(said) < len(open_end)
    assert Encoded.from_json(open_end.to_json()) == open_end
    _, labels = batch_tensors([open_end], [0])
    targets = [int(t) for t in labels[0] if t != IGNORE]
    assert targets == said  # the answer's words, not the end-of-turn
