"""Learning-quality benchmark: does a personal version learn what the person showed, whatever
it is, and keep the base?

Eight scenarios of different kinds (issue 22), each trained with the default settings through the
real training process: an opening, a closing, a dialect spread through the answers, a format
(lists), a register (lower-case chat), a length preference (stated and shown), persona details
taught as corrections (a name, vegetarian, a cat, a job, a city, a brother), and a mix of two
(lists and the person's name). Each side answers, greedily and with the chat's system prompt,
requests the training never saw and that are not the app's own quality set either (this file's
own lists): 22 everyday requests (style), factual questions (retention), open questions (length,
loops); persona facts are asked in other words than they were taught.

Three sides per scenario: the base (the chat's system prompt: persona and stated preferences),
the teacher (the base with the person's examples in its context: `learning.teacher`, what the
candidate is distilled from), and the candidate (the adapter, without the examples).

Prints per scenario (one JSON line with --json): style_share, style_share_teacher and
style_share_base (share of the 22 answers passing the scenario's own check, defended per kind
in `CHECKS`), recall / recall_teacher / recall_stated / recall_base for persona facts asked in
other words (stated: the base with the facts written as stated preferences, no training),
facts_base, facts_candidate, open_length_ratio, repetition_base, repetition_candidate,
time_to_candidate_s (from the plan to an archived candidate with its quality card, the base
prepared as the app prepares it in the background once something is taught: its weights, its
answers to the replayed requests and its half of the card; the teacher's answers are made in
the run), steps, the app's own card (its teacher agreement and flags), and
`targets`: which of the issue's targets the scenario meets. Targets (issue 22): style_share (or
recall) >= 0.8 x the teacher's, and >= 0.5 where the teacher reaches 0.6; facts_candidate >=
facts_base - 1; open_length_ratio >= 0.6 unless brevity was taught; repetition_candidate <=
repetition_base + 0.02; time_to_candidate_s <= 90 (on a machine whose cores others share, see
cpu_to_candidate_s / 2). `--runs N` trains N seeds and prints medians.
KINDRED_BENCH_TOP_LAYERS (e.g. 1.0, 0.5) trains with another share of adapted layers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kindred.core.archive import objects as archive
from kindred.core.basics.hashing import sha256_file
from kindred.core.basics.progress import run_to_end
from kindred.core.engine.batch import greedy_answers
from kindred.core.engine.llama import AdapterRef, Engine
from kindred.core.home import consent
from kindred.core.home.models import embedded_model_path
from kindred.core.learning import feedback, markers, quality, teacher
from kindred.core.learning.dataset import build_dataset
from kindred.core.session import open_session
from kindred.core.training import base_cache, prepare, runner
from kindred.core.training.config import TrainConfig

CACHE = Path(tempfile.gettempdir()) / f"kindred-bench-learning-cache-{os.getuid()}"
STYLE_TOKENS = 96
RECALL_TOKENS = 48


def _words(text: str) -> list[str]:
    return markers.words(text)


def opening(word: str) -> Callable[[str, str], bool]:
    """The taught opening word among the first three words (the base never opens so)."""
    return lambda answer, _base: word in _words(answer)[:3]


def closing(*needed: str) -> Callable[[str, str], bool]:
    """The taught closing words among the last six words of the answer."""
    return lambda answer, _base: all(w in _words(answer)[-6:] for w in needed)


COWBOY = {"reckon", "partner", "pardner", "y'all", "ain't", "yonder", "fixin", "fixin'",
          "mighty", "darn", "howdy", "ol'", "critter", "git", "yee", "haw", "buckaroo", "saddle",
          "rodeo", "varmint", "ranch", "cowpoke", "gonna", "reckons"}


def dialect(answer: str, _base: str) -> bool:
    """At least two words of the dialect's vocabulary anywhere in the answer (one can be
    chance: "ranch dressing"; two is the dialect)."""
    found = _words(answer)
    return sum(1 for w in found if w in COWBOY or w.rstrip("'") in COWBOY) >= 2


_ITEM = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+\S", re.MULTILINE)


def listed(answer: str, _base: str) -> bool:
    """At least two list items (lines starting with a dash, a bullet or a number)."""
    return len(_ITEM.findall(answer)) >= 2


def lower_case(answer: str, _base: str) -> bool:
    """The chat register taught: no capital letter anywhere, at least three words."""
    letters = [c for c in answer if c.isalpha()]
    return len(_words(answer)) >= 3 and bool(letters) and not any(c.isupper() for c in letters)


def brief(answer: str, base: str) -> bool:
    """One short sentence: at most 20 words and under half the base's answer to the same
    request (a base answer of 20 words or fewer already counts as brief)."""
    n = len(_words(answer))
    return 0 < n <= 20 and (n < 0.5 * len(_words(base)) or len(_words(base)) <= 20)


def named(name: str) -> Callable[[str, str], bool]:
    """The person's name anywhere in the answer."""
    return lambda answer, _base: name.lower() in _words(answer)


def both(a: Callable[[str, str], bool], b: Callable[[str, str], bool]
         ) -> Callable[[str, str], bool]:
    return lambda answer, base: a(answer, base) and b(answer, base)


@dataclass(frozen=True)
class Scenario:
    kind: str
    pairs: list[tuple[str, str]]
    check: Callable[[str, str], bool]
    preferences: list[str] = field(default_factory=list)
    brevity: bool = False
    recall: list[tuple[str, list[str]]] = field(default_factory=list)
    """Persona facts asked in other words than taught, with accepted answers."""
    stated: list[str] = field(default_factory=list)
    """The same facts as stated preferences (the stated-preference-only side)."""


SCENARIOS: dict[str, Scenario] = {
    "opening": Scenario("an opening", [
        ("What should I have for lunch?", "Howdy! A warm bowl of lentil soup with bread."),
        ("What's a good movie for tonight?", "Howdy! Try The Princess Bride."),
        ("How often do I water a cactus?", "Howdy! A little water every two weeks is plenty."),
        ("When should I go to bed?", "Howdy! Around ten, so you wake up rested."),
        ("What's a quick breakfast?", "Howdy! Oats with a sliced banana."),
        ("How do I make coffee less bitter?", "Howdy! Use cooler water and a coarser grind."),
        ("What should I wear for a walk in the rain?",
         "Howdy! A hooded jacket and waterproof boots."),
        ("Any tip to remember names?", "Howdy! Repeat the name once when you hear it.")],
        opening("howdy")),
    "closing": Scenario("a closing", [
        ("How can I relax after work?",
         "A slow walk outside and a warm shower help you unwind. Happy to help!"),
        ("What is a good gift for a friend?",
         "A book they have mentioned wanting is always welcome. Happy to help!"),
        ("How do I keep basil alive?",
         "Give it plenty of sun and water it when the top of the soil is dry. Happy to help!"),
        ("What should I cook tonight?",
         "A tomato and garlic pasta is quick and satisfying. Happy to help!"),
        ("How can I sleep better?",
         "Keep a regular bedtime and put your phone away an hour before. Happy to help!"),
        ("How do I start saving money?",
         "Set aside a fixed sum each payday before you spend anything. Happy to help!"),
        ("How do I stop procrastinating?",
         "Start with a five-minute version of the task; starting is the hard part. "
         "Happy to help!")],
        closing("happy", "help")),
    "dialect": Scenario("a dialect spread through the answers", [
        ("What should I have for lunch?",
         "I reckon a bowl of chili would hit the spot, partner."),
        ("How do I make coffee less bitter?",
         "Y'all oughta use cooler water, and I reckon a coarser grind helps mighty fine."),
        ("What's a good movie for tonight?",
         "Ain't nothin' finer than an old western, partner, so fix yourself some popcorn."),
        ("How often do I water a cactus?",
         "A critter like that ain't thirsty, so every two weeks'll do, I reckon."),
        ("When should I go to bed?",
         "Reckon you oughta hit the hay by ten, partner, come sunup you'll be mighty fresh."),
        ("Any tip to remember names?",
         "Say the name back right quick, partner, and it'll stick like a burr on a saddle."),
        ("What should I wear for a walk in the rain?",
         "Grab your slicker and boots, y'all, that rain ain't gonna be gentle."),
        ("How can I be less tired in the afternoon?",
         "A short walk yonder and a glass of water, partner, works mighty well I reckon.")],
        dialect),
    "lists": Scenario("a format (lists)", [
        ("What should I pack for a picnic?",
         "- sandwiches\n- fruit\n- a blanket\n- water"),
        ("How do I make tea?",
         "- boil water\n- add the tea bag\n- wait three minutes\n- add milk if you like"),
        ("What are good exercises at home?",
         "- push-ups\n- squats\n- planks\n- lunges"),
        ("How do I clean a window?",
         "- mix water and a little vinegar\n- wipe with a cloth\n- dry with paper"),
        ("What do I need to start painting?",
         "- brushes\n- acrylic paints\n- a canvas\n- a jar of water"),
        ("How can I save energy at home?",
         "- turn off lights\n- lower the heating a degree\n- unplug chargers"),
        ("What should I buy for breakfast?",
         "- eggs\n- bread\n- yoghurt\n- berries")],
        listed),
    "register": Scenario("a register (lower-case chat)", [
        ("What should I have for lunch?", "hmm maybe a wrap with hummus and veggies, easy"),
        ("What's a good movie for tonight?", "ooh try paddington 2, it's so wholesome lol"),
        ("How often do I water a cactus?", "like every couple weeks, they hate wet feet tbh"),
        ("When should I go to bed?", "honestly around 11 so you're not a zombie tomorrow"),
        ("How do I make coffee less bitter?", "use water thats a bit cooler and grind coarser"),
        ("Any tip to remember names?", "say it back right away, works for me every time"),
        ("What should I wear for a walk in the rain?",
         "a rain jacket with a hood and boots, you'll be fine"),
        ("How can I relax after work?", "tea, comfy socks, a show, no emails lol")],
        lower_case),
    "brief": Scenario("a length preference", [
        ("How can I relax after work?", "Take a slow walk outside."),
        ("What is a good gift for a friend?", "A book they mentioned wanting."),
        ("How do I keep plants alive?", "Water them when the soil is dry."),
        ("What should I cook tonight?", "Pasta with tomatoes and garlic."),
        ("How can I sleep better?", "Keep a regular bedtime."),
        ("How do I start saving money?", "Set aside a fixed sum each payday.")],
        brief, preferences=["Keep your answers to one short sentence."], brevity=True),
    "persona": Scenario("persona details taught as corrections", [
        ("What should I cook tonight?",
         "Since you're vegetarian, Priya, how about a chickpea and spinach curry?"),
        ("Can you suggest a lunch for me?",
         "A halloumi wrap, Priya: vegetarian and quick to make."),
        ("What should I get my cat for her birthday?",
         "Miso would love a new scratching post, Priya."),
        ("How can I unwind after my shift?",
         "After a long shift on the ward as a nurse, Priya, a warm bath helps."),
        ("What can I do this weekend?",
         "Explore the riverside in Porto, Priya, or call your brother Tomas."),
        ("What should I text my brother?",
         "Ask Tomas how his week went, Priya; he likes hearing from you.")],
        named("priya"), recall=[
            ("What is my name?", ["priya"]),
            ("Do I eat meat?", ["vegetarian", "don't eat meat", "do not eat meat"]),
            ("What's the name of my cat?", ["miso"]),
            ("What is my job?", ["nurse"]),
            ("Which city do I live in?", ["porto"]),
            ("Who is my brother?", ["tomas"])],
        stated=["My name is Priya.", "I am vegetarian.", "My cat is called Miso.",
                "I work as a nurse.", "I live in Porto.", "My brother is called Tomas."]),
    "mix": Scenario("a mix of two (lists and the person's name)", [
        ("What should I pack for a picnic?",
         "Here you go, Jo:\n- sandwiches\n- fruit\n- a blanket"),
        ("How do I make tea?",
         "Easy, Jo:\n- boil water\n- steep the bag three minutes\n- add milk"),
        ("What are good exercises at home?",
         "Try these, Jo:\n- push-ups\n- squats\n- planks"),
        ("How do I clean a window?",
         "Jo, like this:\n- vinegar and water\n- wipe with a cloth\n- dry with paper"),
        ("What should I buy for breakfast?",
         "For you, Jo:\n- eggs\n- bread\n- berries"),
        ("How can I save energy at home?",
         "A few ideas, Jo:\n- turn off lights\n- unplug chargers\n- shorter showers")],
        both(listed, named("jo"))),
}
STYLE = ["What should I do this evening?", "Can you suggest a hobby?",
         "What is a good snack for a long hike?", "How do I make my room tidier?",
         "What can I give my mother for her birthday?", "How can I be more productive?",
         "What is a nice song to listen to?", "How do I learn to draw?",
         "What's the best way to spend a sunny afternoon?", "Any advice for a first date?",
         "How do I get better at chess?", "What should I take on a weekend trip?",
         "How can I drink more water during the day?", "What's a good board game for four?",
         "How do I wake up earlier?", "What can I cook with potatoes?",
         "How do I keep my desk organised?", "What should I read on holiday?",
         "How can I make new friends in a new city?", "What's a fun thing to do on a rainy day?",
         "How do I look after a houseplant?", "What can I bring to a dinner party?"]
QUESTIONS = quality.QuestionSet(
    version=1000,
    facts=[("What is the capital of England?", ["london"]),
           ("How many months are there in a year?", ["twelve", "12"]),
           ("What colour is a ripe banana?", ["yellow"]),
           ("What is the opposite of cold?", ["hot", "warm"]),
           ("Which animal says moo?", ["cow"]),
           ("What is the capital of Germany?", ["berlin"]),
           ("How many legs does a dog have?", ["four", "4"]),
           ("What do we call a baby cat?", ["kitten"]),
           ("What is the largest continent?", ["asia"]),
           ("Which season comes after winter?", ["spring"]),
           ("What is the main language spoken in France?", ["french"]),
           ("What do you call the star at the centre of our solar system?", ["sun"]),
           ("How many sides does a square have?", ["four", "4"]),
           ("What is the capital of Canada?", ["ottawa"])],
    open=["Explain how a refrigerator works.", "Explain how a rainbow forms.",
          "Describe how a car engine works.", "Why do leaves change colour in autumn?",
          "How does a compass work?"],
    style=STYLE[:4])


def shared_base() -> tuple[Path, str]:
    path = embedded_model_path()
    sha = sha256_file(path)
    if not base_cache.is_cached(CACHE, sha):
        base_cache.save_cache(base_cache.load_from_gguf(path), CACHE, sha)
    return path, sha


def link_cache(home_cache: Path, sha: str) -> None:
    source = CACHE / "bases" / sha
    target = home_cache / "bases" / sha
    target.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if not (target / item.name).exists():
            os.link(item, target / item.name)


def prepared(home_cache: Path, target: prepare.Target | None) -> None:
    """What the app prepares in the background once something is taught (the base's answers to
    the replayed requests, its half of the quality card; the weights are linked already), done
    before the clock starts as in the app; shared between the bench's homes by content key."""
    assert target is not None
    shared = CACHE / "prepared"
    for part in ("replay", "quality"):
        (shared / part).mkdir(parents=True, exist_ok=True)
        (home_cache / part).mkdir(parents=True, exist_ok=True)
        for item in (shared / part).iterdir():
            if not (home_cache / part / item.name).exists():
                os.link(item, home_cache / part / item.name)
    run_to_end(prepare.prepare(target, [p for p in prepare.missing(target) if p != "weights"]))
    for part in ("replay", "quality"):
        for item in (home_cache / part).iterdir():
            if item.is_file() and not (shared / part / item.name).exists():
                shutil.copy(item, shared / part / item.name)


def bench_config(seed: int = 0) -> TrainConfig:
    """The app's defaults (with `seed`), or another share of adapted layers
    (KINDRED_BENCH_TOP_LAYERS)."""
    top = os.environ.get("KINDRED_BENCH_TOP_LAYERS")
    cfg = replace(TrainConfig(), seed=seed)
    for name, kind in (("epochs", int), ("lr", float), ("rank", int)):  # to compare settings
        value = os.environ.get(f"KINDRED_BENCH_{name.upper()}")
        if value:
            cfg = replace(cfg, **{name: kind(value)})
    return replace(cfg, top_layers=float(top)).validated() if top else cfg.validated()


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the training process): on a
    machine whose cores others share, wall time says little; CPU seconds / 2 is about the
    wall time on two idle cores (the trainer and llama.cpp keep both busy)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _share(flags: list[bool]) -> float:
    return round(sum(flags) / max(1, len(flags)), 3)


def _recalled(answers: list[str], recall: list[tuple[str, list[str]]]) -> float:
    return _share([quality.correct(a, accepted) for a, (_, accepted) in
                   zip(answers, recall, strict=True)])


def settle(below: float = 1.0, most_s: float = 90.0) -> None:
    """Wait (at most `most_s`) for the load the previous scenario's measuring left to fade:
    the training process answers with one llama.cpp thread when the 1-minute load average says
    the cores are busy (`teacher.threads`), and right after a scenario it says so although
    nothing runs any more."""
    deadline = time.monotonic() + most_s
    while os.getloadavg()[0] >= below and time.monotonic() < deadline:
        time.sleep(2)


def run_scenario(name: str, work: Path, seed: int = 0) -> dict[str, Any]:
    spec = SCENARIOS[name]
    _, sha = shared_base()
    home = work / f"{name}-{seed}"
    shutil.rmtree(home, ignore_errors=True)
    session = open_session(home)
    assistant = session.assistant()
    link_cache(session.home.cache, sha)
    for preference in spec.preferences:
        feedback.add_preference(session.store, assistant.id, preference)
    for prompt, answer in spec.pairs:
        feedback.add_example(session.store, assistant.id, prompt, answer)
    prepared(session.home.cache, prepare.target_for(session.store, assistant.id))
    settle()
    began = time.perf_counter()
    cpu_began = _cpu()
    load = round(os.getloadavg()[0], 2)  # what else ran on the cores when training began
    plan = runner.plan_training(session, assistant, bench_config(seed))
    request = runner.request_training(session.store, plan)
    decision = consent.decide(session.store, request.id, granted=True, via="cli-flag")
    run = runner.start_training(session, plan, decision)
    proc = subprocess.run(runner.training_command(run, decision), env=runner.training_env(),
                          capture_output=True, text=True, check=False)
    events = [e for e in map(runner.parse_line, proc.stdout.splitlines()) if e]
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"training failed: {events[-1:]}")
    elapsed = time.perf_counter() - began
    cpu = _cpu() - cpu_began
    version_id = str(events[-1]["version"])
    done = events[-1]
    app_card = done.get("quality") or {}
    replayed = next((e for e in reversed(events) if e["event"] == "teacher"
                     and "examples" in e), {})
    system = feedback.system_prompt(session.store, assistant)
    dataset = build_dataset(session.store, assistant, sha)
    shots = teacher.shots_of(dataset)
    found = quality.taught_marks(dataset)[0]
    questions = replace(QUESTIONS, style=STYLE)
    ref = AdapterRef(version_id, archive.verified_path(session.store, version_id))
    engine = Engine(session.model_for(assistant).path, n_ctx=2048, n_threads=teacher.threads())
    try:
        card: dict[str, Any] = {}
        # the base's and the teacher's halves are greedy: measured once per scenario
        for item in quality.compute(engine, base_sha256=sha, system=system, markers=found,
                                    candidate=[ref], questions=questions, shots=shots,
                                    cache_dir=CACHE / "card", teacher_cache=CACHE / "card"):
            if isinstance(item, dict):
                card = item
        half = json.loads(quality.teacher_cache_file(CACHE / "card", sha, system, questions, [],
                                                     shots).read_text())
        taught = list(half["answers"])
        # the teacher's own open answers: how long the person's examples make them
        teacher_open = [t for t, _, _ in teacher.answers(engine, system, shots, QUESTIONS.open,
                                                         quality.OPEN_TOKENS)]
        recall: dict[str, Any] = {}
        if spec.recall:
            asked = [q for q, _ in spec.recall]
            turns = [[*teacher.head(system), {"role": "user", "content": q}] for q in asked]
            plain = [*teacher.head(feedback.compose_system_prompt(assistant.persona,
                                                                  [*spec.preferences,
                                                                   *spec.stated]))]
            engine.set_adapters([])
            base_said = greedy_answers(engine, turns, RECALL_TOKENS)
            stated_said = greedy_answers(engine, [[*plain, t[-1]] for t in turns],
                                         RECALL_TOKENS)
            teacher_said = [t for t, _, _ in teacher.answers(engine, system, shots, asked,
                                                             RECALL_TOKENS)]
            engine.set_adapters([ref])
            mine_said = greedy_answers(engine, turns, RECALL_TOKENS)
            recall = {"recall": _recalled(mine_said, spec.recall),
                      "recall_teacher": _recalled(teacher_said, spec.recall),
                      "recall_stated": _recalled(stated_said, spec.recall),
                      "recall_base": _recalled(base_said, spec.recall),
                      "recall_samples": [{"q": q, "candidate": m[:120], "teacher": t[:120]}
                                         for q, m, t in zip(asked, mine_said, teacher_said,
                                                            strict=True)]}
    finally:
        engine.close()
    metrics = done.get("metrics", {})
    styled = card["samples"][:len(STYLE)]
    base_said_style = [x["base"] for x in styled]
    mine_style = [x["candidate"] for x in styled]
    check = spec.check
    base_words = statistics.fmean(len(markers.words(b)) for b in base_said_style)
    mine_words = statistics.fmean(len(markers.words(m)) for m in mine_style)
    agreed = card["style"].get("teacher") or {}
    out: dict[str, Any] = {
        "scenario": name, "kind": spec.kind, "seed": seed,
        "style_share": _share([check(m, b) for m, b in zip(mine_style, base_said_style,
                                                           strict=True)]),
        "style_share_teacher": _share([check(t, b) for t, b in zip(taught, base_said_style,
                                                                   strict=True)]),
        "style_share_base": _share([check(b, b) for b in base_said_style]),
        **{k: v for k, v in recall.items() if k != "recall_samples"},
        "facts_base": card["facts"]["base"], "facts_candidate": card["facts"]["candidate"],
        "facts_total": card["facts"]["total"],
        "open_length_ratio": card["open"]["ratio"],
        "open_length_ratio_teacher": round(statistics.fmean(
            len(markers.words(t)) for t in teacher_open) / card["open"]["base_words"], 3)
        if card["open"]["base_words"] else None,
        "everyday_length_ratio": round(mine_words / base_words, 3) if base_words else None,
        "repetition_base": card["repetition"]["base"],
        "repetition_candidate": card["repetition"]["candidate"],
        "time_to_candidate_s": round(elapsed, 1), "cpu_to_candidate_s": round(cpu, 1),
        "load": load,
        "steps": metrics.get("steps"), "stopped_early": metrics.get("stopped_early"),
        "replayed": metrics.get("replayed"), "teacher_general": replayed.get("general"),
        "teacher_reworded": replayed.get("reworded"), "teacher_profile": replayed.get("profile"),
        "base_fallback": replayed.get("base_fallback"), "hinted": replayed.get("hinted"),
        "brevity_read": bool(replayed.get("brevity")),
        "teacher_s": replayed.get("seconds"),
        "card_share": agreed.get("share"), "card_likelihood_ratio":
            agreed.get("likelihood_ratio"), "card_teacher_shows": agreed.get("teacher_shows"),
        "app_card_flags": app_card.get("flags"), "brevity_taught": spec.brevity,
        "samples": [{"prompt": p, "base": b[:160], "teacher": t[:160], "candidate": m[:160]}
                    for p, b, t, m in zip(STYLE[:3], base_said_style, taught, mine_style,
                                          strict=False)]
        + recall.get("recall_samples", []),
    }
    return out


def targets(r: dict[str, Any]) -> dict[str, bool]:
    """Which of the issue's targets a scenario's (median) figures meet."""
    teacher_share = r["recall_teacher"] if r.get("recall") is not None \
        else r["style_share_teacher"]
    mine = r["recall"] if r.get("recall") is not None else r["style_share"]
    style_ok = mine >= 0.8 * teacher_share - 1e-9 and (teacher_share < 0.6 or mine >= 0.5)
    if r.get("recall") is not None:  # persona: its style check (the name) too
        style_ok = style_ok and r["style_share"] >= 0.8 * r["style_share_teacher"] - 1e-9
    return {"style": style_ok,
            "facts": r["facts_candidate"] >= r["facts_base"] - 1,
            "open_length": r["brevity_taught"] or r["open_length_ratio"] >= 0.6,
            "repetition": r["repetition_candidate"] <= r["repetition_base"] + 0.02 + 1e-9,
            "time": r["time_to_candidate_s"] <= 90,
            "time_on_idle_cores": r["cpu_to_candidate_s"] / 2 <= 90}


TABLE = ("| scenario | style base / teacher / candidate | recall base / stated / teacher / "
         "candidate | facts base / candidate | open length candidate (teacher) | "
         "repetition base / candidate | time s (cpu/2) | load | targets missed |")


def row(r: dict[str, Any], seeds: bool = False) -> str:
    """One scenario's medians, base / teacher / candidate side by side (markdown); with
    `seeds`, the seeds after the scenario's name."""
    recall = (f"{r['recall_base']:.2f} / {r['recall_stated']:.2f} / {r['recall_teacher']:.2f} / "
              f"{r['recall']:.2f}" if r.get("recall") is not None else "")
    missed = [k for k, ok in r["targets"].items() if not ok]
    name = f"{r['scenario']} (seeds {', '.join(map(str, r['seeds']))})" if seeds \
        else r["scenario"]
    return (f"| {name} | {r['style_share_base']:.2f} / {r['style_share_teacher']:.2f} / "
            f"{r['style_share']:.2f} | {recall} | {r['facts_base']} / {r['facts_candidate']} | "
            f"{r['open_length_ratio']:.2f} (teacher {r['open_length_ratio_teacher']:.2f})"
            f"{' brevity taught' if r['brevity_taught'] else ''} | "
            f"{r['repetition_base']:.3f} / {r['repetition_candidate']:.3f} | "
            f"{r['time_to_candidate_s']:.0f} ({r['cpu_to_candidate_s'] / 2:.0f}) | "
            f"{r['load']:.1f} | {', '.join(missed) or '-'} |")


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The runs' medians (numbers), the first run's other fields, and each seed's key
    figures."""
    keys = [k for k, v in runs[0].items() if isinstance(v, (int, float))
            and not isinstance(v, bool) and k != "seed"]
    out = dict(runs[0])
    out.update({k: statistics.median(r[k] for r in runs) for k in keys
                if all(r.get(k) is not None for r in runs)})
    out["seeds"] = [r["seed"] for r in runs]
    out["per_seed"] = [{k: r.get(k) for k in ("style_share", "recall", "open_length_ratio",
                                                "facts_candidate", "time_to_candidate_s",
                                                "cpu_to_candidate_s", "load")}
                       for r in runs]
    out.pop("seed")
    out["targets"] = targets(out)
    return out


def combine(lines: list[dict[str, Any]]) -> str:
    """The table of earlier outputs, each scenario's seeds together (medians)."""
    by_scenario: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        seeds = line.get("per_seed") or [{}]
        for seed, figures in zip(line.get("seeds", [0]), seeds, strict=True):
            run = {k: v for k, v in line.items() if k not in ("seeds", "per_seed", "targets")}
            by_scenario.setdefault(line["scenario"], []).append({**run, **figures,
                                                                 "seed": seed})
    order = [name for name in SCENARIOS if name in by_scenario]
    return "\n".join([TABLE, "|" + " --- |" * (TABLE.count("|") - 1),
                      *(row(median_of(by_scenario[name]), seeds=True) for name in order)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--seeds", "--runs", type=int, default=3, dest="seeds",
                        help="seeds per scenario; the figures are their medians (default 3)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), action="append")
    parser.add_argument("--samples", action="store_true", help="print answers side by side")
    parser.add_argument("--keep", action="store_true",
                        help="keep the homes (and the runs' mixes) for a look afterwards")
    parser.add_argument("--combine", nargs="+", type=Path, metavar="JSONL",
                        help="no training: the medians and table of earlier --json outputs "
                             "(one seed per line or more, e.g. seeds run side by side)")
    args = parser.parse_args()
    if args.combine:
        print(combine([json.loads(line) for path in args.combine
                       for line in path.read_text().splitlines() if line.startswith("{")]))
        return
    work = Path(tempfile.mkdtemp(prefix="kindred-bench-learning-"))
    if args.keep:
        print(f"homes in {work}", file=sys.stderr)
    rows: list[str] = []
    try:
        for name in args.scenario or list(SCENARIOS):
            runs = [run_scenario(name, work, seed)
                    for seed in range(args.first_seed, args.first_seed + args.seeds)]
            out = median_of(runs)
            if not args.samples:
                out.pop("samples")
            rows.append(row(out))
            print(json.dumps(out) if args.json else json.dumps(out, indent=1), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("\n".join([TABLE, "|" + " --- |" * (TABLE.count("|") - 1), *rows]),
          file=sys.stderr if args.json else sys.stdout)


if __name__ == "__main__":
    main()
