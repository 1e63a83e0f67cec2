"""Deterministic roast scoring by plain heuristics (the embedded judge's brain).

`score_text(prompt, text)` returns a `RoastScore` with four integers in 0..10
and a one-line commentary. It is a pure function: no randomness, no clock, no
I/O, no dependence on Python's hash seed (nothing iterates a set in a way that
matters), and it never raises on any `str`. Floats are used inside, but every
dimension is turned into an int with round-half-up and clamped to 0..10.

Preparation
    The text is cut to its first `MAX_CHARS` characters (an over-long text is
    a wall of text anyway), NFKC-normalised, control and format characters are
    dropped, and curly apostrophes become straight ones. Words are runs of
    letters/digits (with inner apostrophes), casefolded. A *stem* strips a
    possessive "'s" and one suffix: "ies"->"y", "ing", "ed", "es", "s" (only
    when a stem of at least three letters is left). *Content words* are stems
    that are not stop words; for the prompt, the boilerplate every prompt
    shares ("roast", "opponent", "as if they were" ...) is a stop word too.
    A text with no words at all scores zeros ("No roast submitted." when it is
    empty or only whitespace/invisible characters).

relevance -- does the roast answer the prompt?
    coverage = matched prompt content words / prompt content words, where a
    prompt word matches a roast stem that is equal, or a prefix of it / has
    it as prefix when both are at least 4 letters ("music" ~ "musical").
    relevance = round(9 * min(1, 1.25 * coverage)) + 1 if the roast addresses
    the opponent in the second person ("you", "your" ...). A prompt with no
    content words gives coverage 0.5.

creativity -- is it inventive?
    up to 4 points for lexical variety: type/token ratio of the words, damped
    for texts under 12 words (a three-word text is trivially "varied");
    up to 3 points for rare-ish vocabulary: 0.75 per distinct long word
    (7+ letters, not a stop word); up to 3 points for figurative language:
    1.5 per simile/hyperbole marker ("like a", "as ... as", "so ... that",
    "more ... than", "the kind of", "imagine", ...).

delivery -- does it land?
    length sweet spot 12..60 words (4 points; fewer for 3..11 or 61..160, none
    outside); sentence structure (2-4 sentences best, 2.5 points); some
    punctuation (1 point); a punchline (2 points): it ends with "!", or its
    last sentence is short (<= 8 words) after at least one longer one; a
    rhetorical closing "?" earns 1. Penalties: shouting (mostly capitals),
    punctuation spam ("!!!!"), and hard caps: a single word scores at most
    1, a wall of text (over 200 words) at most 2.

savagery -- does it bite?
    1.5 per distinct "bite" word (even, never, worst, tragic, embarrassing,
    pathetic, ...; up to 5), 1 per second-person reference (you, your ...;
    up to 3), 1 per intensifier (so, literally, absolutely, ...; up to 2).
    Profanity and slurs are NOT rewarded: a hit on the small blocklist caps
    savagery at `BLOCKED_SAVAGERY_CAP` and the commentary says so.

commentary
    One line built from the total's tier (an opener), the strongest and the
    weakest dimension (ties broken in the order savagery, creativity,
    delivery, relevance), praise toned down when the best score is under 5
    and criticism when the worst is 7 or more; each phrase is picked from
    several templates by a hash of the text, so it varies between roasts but
    not between replays.
"""

from __future__ import annotations

import codecs
import re
import unicodedata

from arena.ai.port import COMMENTARY_MAX, RoastScore, one_line
from arena.engine import rng

JUDGE = "embedded"
MAX_CHARS = 20_000
BLOCKED_SAVAGERY_CAP = 3
EMPTY_COMMENTARY = "No roast submitted."
NO_WORDS_COMMENTARY = "Symbols are not a roast; no words, no points."

# --- text preparation -------------------------------------------------------

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_SENTENCE_END = re.compile(r"[.!?…]+")
_PUNCT = re.compile(r"[,.!?;:…\-—–]")
_PUNCT_SPAM = re.compile(r"[!?.]{4,}")

STOP_WORDS = frozenset(
    """
    a an the and or but nor so yet for of to in on at by with from into onto
    up down out off over under about than then there here this that these those
    is am are was were be been being do does did done have has had having
    i me my mine we us our ours he him his she her hers it its they them their
    theirs what which who whom whose when where why how all any both each few
    more most other some such no not only own same too very can will just
    would could should shall may might must if as also s t d ll m re ve
    get got go goes went make made one ones thing things really well like
    """.split()
)
SECOND_PERSON = frozenset(
    "you your yours yourself yourselves you're youre you've you'll you'd ya u ur".split()
)
# Words every prompt shares; they carry no topic.
PROMPT_BOILERPLATE = frozenset(
    "roast opponent opponents if were was as their they them own".split()
)
BITE_WORDS = frozenset(
    """
    even never worst tragic tragically embarrassing embarrassment embarrassed
    pathetic desperate desperately mediocre cringe cringey cringeworthy lame
    loser fail failed failure broke basic irrelevant forgettable disappointment
    disappointing sad sadly bland beige expired clown joke yikes nobody
    useless hopeless awkward painful cheap fake knockoff discount budget
    delusional clueless boring outdated obsolete unemployed peaked flop
    disaster dumpster trainwreck buffering participation npc ratio
    terrible awful horrible pitiful tacky stale cursed mid unwatchable
    """.split()
)
INTENSIFIERS = frozenset(
    """
    so very truly absolutely literally completely utterly totally painfully
    remarkably deeply entirely genuinely seriously aggressively impressively
    spectacularly
    """.split()
)
_FIGURATIVE = (
    re.compile(r"\blike (?:a|an|the|some|your|watching|being)\b"),
    re.compile(r"\bas \w+(?: \w+)? as\b"),
    re.compile(r"\bso \w+(?: \w+){0,3} (?:that|even)\b"),
    re.compile(r"\bmore \w+(?: \w+)? than\b"),
    re.compile(r"\bthe (?:kind|type) of\b"),
    re.compile(r"\b(?:imagine|basically|apparently|if \w+ were)\b"),
)

# Small blocklist. Profanity is written out; slurs are kept ROT13-encoded so
# the source does not display them. Matched after casefolding and undoing
# common digit/symbol substitutions ("sh1t", "$hit", "f@g").
_BLOCK_PREFIX = frozenset("fuck fuk fck shit cunt bitch motherfuck twat".split())
_BLOCK_EXACT = frozenset(
    "asshole assholes arsehole dickhead dick dicks prick bastard bastards "
    "wanker wankers slut sluts whore whores".split()
) | frozenset(
    codecs.decode(w, "rot13")
    for w in (
        "avttre avttref avttn avttnf snttbg snttbgf snt sntf ergneq ergneqf ergneqrq "
        "genaal fcvp xvxr puvax"
    ).split()
)
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})
_BLOCK_TOKEN = re.compile(r"[\w@$!]+")


def _clean(text: str) -> str:
    text = text[:MAX_CHARS]
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    return "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co")
    )


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def stem(word: str) -> str:
    """Crude, deterministic stemming: possessive, then one common suffix."""
    if word.endswith("'s"):
        word = word[:-2]
    word = word.replace("'", "")
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith("ss"):
                return word
            return word[: -len(suffix)]
    return word


def _content(words: list[str], extra_stops: frozenset[str] = frozenset()) -> list[str]:
    out = []
    for w in words:
        if w in STOP_WORDS or w in SECOND_PERSON or w in extra_stops:
            continue
        s = stem(w)
        if s and s not in STOP_WORDS and s not in extra_stops:
            out.append(s)
    return out


def _round(x: float) -> int:
    """Round half up and clamp to 0..10; always a plain int."""
    if x != x:  # NaN cannot happen, but never let it leak
        return 0
    n = int(x + 0.5) if x > 0 else 0
    return max(0, min(10, n))


def _stems_match(a: str, b: str) -> bool:
    if a == b:
        return True
    return len(a) >= 4 and len(b) >= 4 and (a.startswith(b) or b.startswith(a))


def uses_blocked_words(text: str) -> bool:
    """Does `text` use a word of the blocklist (after undoing common
    substitutions)? Also the meme review's moderation (`arena.ai.content`)."""
    return _blocked(text.casefold())


def _blocked(lowered: str) -> bool:
    for tok in _BLOCK_TOKEN.findall(lowered):
        t = tok.strip("!").translate(_LEET).replace("_", "")
        if t in _BLOCK_EXACT or any(t.startswith(p) for p in _BLOCK_PREFIX):
            return True
    return False


# --- the four dimensions ---------------------------------------------------


def relevance(prompt_words: list[str], words: list[str]) -> int:
    prompt_content = sorted(set(_content(prompt_words, PROMPT_BOILERPLATE)))
    text_stems = sorted(set(_content(words)))
    if prompt_content:
        hits = sum(
            1 for p in prompt_content if any(_stems_match(p, t) for t in text_stems)
        )
        coverage = hits / len(prompt_content)
    else:
        coverage = 0.5
    addressed = any(w in SECOND_PERSON for w in words)
    return _round(9 * min(1.0, 1.25 * coverage) + (1 if addressed else 0))


def creativity(words: list[str], lowered: str) -> int:
    n = len(words)
    if n == 0:
        return 0
    ttr = len(set(words)) / n
    variety = 4.0 * ttr * min(1.0, n / 12)
    long_words = {w for w in words if len(w) >= 7 and w not in STOP_WORDS}
    rare = min(3.0, 0.75 * len(long_words))
    figures = sum(len(p.findall(lowered)) for p in _FIGURATIVE)
    figurative = min(3.0, 1.5 * figures)
    return _round(variety + rare + figurative)


def _sentences(text: str) -> list[list[str]]:
    parts = _SENTENCE_END.split(text)
    out = [_words(p) for p in parts]
    return [s for s in out if s]


def delivery(words: list[str], text: str) -> int:
    n = len(words)
    if n == 0:
        return 0
    if n <= 2:
        length = 0.0
    elif n < 6:
        length = 1.0
    elif n < 12:
        length = 2.5
    elif n <= 60:
        length = 4.0
    elif n <= 100:
        length = 3.0
    elif n <= 160:
        length = 1.5
    else:
        length = 0.0

    sentences = _sentences(text)
    k = len(sentences)
    structure = {0: 0.0, 1: 1.0, 2: 2.5, 3: 2.5, 4: 2.5, 5: 1.5, 6: 1.5}.get(k, 0.5)

    punctuation = 1.0 if _PUNCT.search(text) else 0.0

    stripped = text.rstrip()
    punchline = 0.0
    if stripped.endswith("!"):
        punchline = 2.0
    elif k >= 2 and len(sentences[-1]) <= 8 and max(len(s) for s in sentences[:-1]) > len(sentences[-1]):
        punchline = 2.0
    elif stripped.endswith("?"):
        punchline = 1.0

    penalty = 0.0
    letters = [c for c in text if c.isalpha()]
    if len(letters) >= 12 and sum(1 for c in letters if c.isupper()) > 0.6 * len(letters):
        penalty += 1.5
    if _PUNCT_SPAM.search(text):
        penalty += 1.0

    score = _round(length + structure + punctuation + punchline - penalty)
    if n == 1:
        score = min(score, 1)
    if n > 200:
        score = min(score, 2)
    return score


def savagery(words: list[str]) -> int:
    bites = {w for w in words if w in BITE_WORDS or stem(w) in BITE_WORDS}
    second = sum(1 for w in words if w in SECOND_PERSON)
    intense = sum(1 for w in words if w in INTENSIFIERS)
    return _round(min(5.0, 1.5 * len(bites)) + min(3.0, float(second)) + min(2.0, float(intense)))


# --- commentary --------------------------------------------------------------

_OPENERS = {
    "high": ("Certified scorcher.", "The crowd is on its feet.", "Somebody call a medic.", "That was a war crime of comedy."),
    "mid": ("Solid hit.", "Not bad at all.", "The crowd felt that one.", "Respectable effort."),
    "low": ("Rough round.", "The crowd is checking their phones.", "That was more of a warm breeze.", "Tough crowd, tougher roast."),
}
_STRONG = {
    "savagery": ("the bite is real", "pure venom", "that one drew blood", "no mercy shown"),
    "creativity": ("the imagery is inventive", "fresh angle", "wildly original wording", "a creative twist"),
    "delivery": ("the timing landed", "clean delivery", "the punchline hit", "tight structure"),
    "relevance": ("right on target", "nailed the prompt", "stayed on topic", "aimed exactly where it hurts"),
}
_WEAK = {
    "savagery": ("it needed more bite", "too polite by half", "the teeth were missing", "sharpen the blade"),
    "creativity": ("the wording felt generic", "heard that one before", "needs a fresher angle", "a bit predictable"),
    "delivery": ("the delivery fumbled", "the punchline got lost", "trim it and land the ending", "the pacing dragged"),
    "relevance": ("it wandered off the prompt", "lost the topic", "answer the prompt next time", "aimed at the wrong target"),
}
_FAINT = ("{d} was the least bad part", "only the {d} showed up", "a glimmer of {d}")
_SOLID = ("even the {d} held up", "no real weak spot, {d} included", "the {d} was the only soft spot")
_EVEN = ("balanced across the board", "even on every dimension", "no weak spot, no standout")


def _pick(options: tuple[str, ...], text: str, slot: str) -> str:
    return options[rng.draw(0, "commentary", slot, len(text), text) % len(options)]


def commentary(scores: dict[str, int], text: str, blocked: bool) -> str:
    order = ("savagery", "creativity", "delivery", "relevance")
    total = sum(scores[d] for d in order)
    tier = "high" if total >= 28 else "mid" if total >= 16 else "low"
    strongest = max(order, key=lambda d: (scores[d], -order.index(d)))
    weakest = min(order, key=lambda d: (scores[d], order.index(d)))
    opener = _pick(_OPENERS[tier], text, "opener")
    if scores[strongest] == scores[weakest]:
        body = _pick(_EVEN, text, "even")
    else:
        if scores[strongest] >= 5:
            good = _pick(_STRONG[strongest], text, "strong")
        else:
            good = _pick(_FAINT, text, "strong").format(d=strongest)
        if scores[weakest] >= 7:
            bad = _pick(_SOLID, text, "weak").format(d=weakest)
            body = f"{good}; {bad}"
        else:
            body = f"{good}, but {_pick(_WEAK[weakest], text, 'weak')}"
    line = f"{opener} {body[0].upper()}{body[1:]}."
    if blocked:
        line += " Profanity doesn't score: savagery capped."
    return one_line(line, limit=COMMENTARY_MAX)


# --- entry point -------------------------------------------------------------


def score_text(prompt: str, text: str) -> RoastScore:
    """Score the roast `text` written for `prompt`. Pure, deterministic, total."""
    if not isinstance(prompt, str):
        prompt = "" if prompt is None else str(prompt)
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    clean = _clean(text)
    if not clean.strip():
        return RoastScore(0, 0, 0, 0, EMPTY_COMMENTARY, JUDGE)
    words = _words(clean)
    if not words:
        return RoastScore(0, 0, 0, 0, NO_WORDS_COMMENTARY, JUDGE)
    lowered = " ".join(clean.casefold().split())
    prompt_words = _words(_clean(prompt))

    blocked = _blocked(lowered)
    scores = {
        "savagery": savagery(words),
        "creativity": creativity(words, lowered),
        "delivery": delivery(words, clean),
        "relevance": relevance(prompt_words, words),
    }
    if blocked:
        scores["savagery"] = min(scores["savagery"], BLOCKED_SAVAGERY_CAP)
    return RoastScore(
        savagery=scores["savagery"],
        creativity=scores["creativity"],
        delivery=scores["delivery"],
        relevance=scores["relevance"],
        commentary=commentary(scores, clean, blocked),
        judge=JUDGE,
    )
