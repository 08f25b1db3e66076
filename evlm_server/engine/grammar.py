"""Constrained decoding of the edit plan with xgrammar.

Why xgrammar rather than llguidance: both are maintained and fast, and both turn JSON Schema
into token masks. xgrammar suits this engine better. It ships as a plain wheel with a bitmask
kernel for CPU and CUDA tensors (`apply_token_bitmask_inplace`). It is the default
structured-output backend of vLLM and SGLang, so a faster engine later can reuse these grammars.
Its JSON Schema converter turns `minimum`/`maximum` into exact digit ranges (at most 6
decimals), `maxItems` into bounded arrays, enums into literal alternatives, and with
`any_whitespace=False` it fixes the separators to `", "` and `": "` (with free whitespace a
random model loops on whitespace forever). Its matcher can also roll back, which the finisher
below needs. llguidance's strength, lazy lexing of very large grammars, does not matter here.

String lengths are enforced outside the grammar. xgrammar compiles `minLength`/`maxLength` into
bounded repetitions, which are slow with a Qwen-sized vocabulary: measured with xgrammar 0.2.8
on 2 cores and a 151k-token vocabulary, the plan grammar took ~10 s to compile and ~10 ms per
token mask inside a string; without the bounds, 0.13 s and 0.7 ms. So `compile()` strips the
bounds from plain strings and keeps them by property name, and strings match any character but
the quote, the backslash (no escapes: shorter, simpler), control characters (JSON parsers
reject them) and UTF-16 surrogates (not valid UTF-8). A vectorised token-length mask
(`mask_rows`) then keeps each string within its bounds, from per-token tables: characters
added before a closing quote, whether the token closes the string, and the lengths of strings a
single token opens and closes (such as `""`).

Termination is the key property: even a random-weight model must end with a complete plan
within its answer budget. A bounded grammar is not enough on its own. Every path through it is
finite, but a random model keeps choosing "one more character" inside a 1200-character string,
so the shortest way out is rarely taken. Each row therefore has a budget of answer tokens and a
*finisher* that closes the JSON without the model:

- `JsonConstraint.complete()` walks the matcher to the end of the grammar and then rolls it
  back. It takes one single-byte token at a time, plus xgrammar's jump-forward strings (keys,
  separators), and always prefers what closes: inside a string, `"` once `minLength` is met;
  elsewhere `}` and `]` before `"` and `,`, and `1` or `0` for a number. So strings, arrays and
  objects close as soon as their minimums allow. The plan schema has no recursion, so the walk
  is short (about 200 bytes from an empty plan) and always ends. A hard cap guards against bugs.
- In the last `window` tokens of the budget, the constraint measures that completion after every
  model token. While `tokens + completion` still fits the budget, the model goes on. Once a token
  breaks that, the token is rolled back and the completion measured one step earlier is
  appended as forced tokens. So the answer is parseable, schema-valid, and never longer than
  `budget` tokens, provided the budget can hold an empty plan at all.

Forced tokens never go through the model: nothing is decoded after them, so they cost no
forward pass. `PlanGrammar.for_tokenizer` caches, per tokenizer, the TokenizerInfo (where the
tokenizer's special tokens are made unmatchable: xgrammar would otherwise let `<|vision_end|>`
appear inside a JSON string as its literal text), the compiler, compiled grammars and the
per-token tables.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass, field

import torch
import xgrammar as xgr
from transformers import LogitsProcessor

# The finisher's preferences, by where it is. Each order tries what closes soonest first, and
# ends with everything else printable, so some byte always fits.
_LETTERS = bytes(range(97, 123)) + bytes(range(65, 91))
_INSIDE = b'"' + _LETTERS + b"0123456789_.- "  # inside a string: close it
_FILL = _LETTERS + b"0123456789_.- "  # inside a string that is still too short
_VALUE_NEXT = b":[, "  # after these a value (or `]`) comes next
_VALUE = b']"10{[tfn-23456789' + _LETTERS + b"}.,: "  # the shortest value: "" or 1 or 0
_AFTER_VALUE = b"}],0123456789.eE-+" + _LETTERS + b'" :{['  # close, else finish the number
_MAX_COMPLETION = 8192  # bytes; a plan needs a few hundred at most, this only guards bugs
_UNUSABLE = 1 << 30  # length of special tokens: never chosen, never within a string bound

# xgrammar's JSON string rule, replaced: no escapes, no control characters, no surrogates.
_STRING_RULE = 'basic_string ::= (("\\"" [^"\\\\\\0-\\x1f\\ud800-\\udfff]* "\\""))'


@dataclass
class _Vocab:
    stop_ids: tuple[int, ...]  # the stop tokens (the first is written after a finished row)
    decoded: list[bytes]  # bytes of each token id (special tokens: b"")
    byte_token: dict[int, int]  # byte value -> id of a token that decodes to exactly that byte
    token_len: list[int]  # decoded length per token id, for the fallback's shortest choice
    quotes: _QuoteTables  # what each token does to JSON strings, for the length mask


@dataclass
class _QuoteTables:
    """Per token id, how it touches strings (see `_scan_quotes`). Index 0 of the `inner_*` and
    `tail` tables: read from outside a string; index 1: read from inside one."""

    first: torch.Tensor  # from inside: characters before the first quote (all, if none)
    closes: torch.Tensor  # from inside: whether it has a quote (closes the open string)
    # From outside: the string a token opens and closes first, when only blanks come before it
    # (-1: none). Its property is known from the cursor, so its own bounds apply (` ""` is fine
    # where "" is allowed); the mask treats the token's other whole strings with common bounds.
    inner_first: torch.Tensor
    inner_min: torch.Tensor  # [2, V] shortest other string opened and closed within the token
    inner_max: torch.Tensor  # [2, V] longest such string (-1: none)
    tail: torch.Tensor  # [2, V] characters of a string it opens and leaves open

    def to(self, device: torch.device) -> _QuoteTables:
        return _QuoteTables(*(getattr(self, f).to(device) for f in self.__dataclass_fields__))


@dataclass(frozen=True)
class CompiledPlan:
    grammar: xgr.CompiledGrammar
    string_bounds: dict[str, tuple[int, int]]  # property name -> (min, max) characters

    @property
    def common_bounds(self) -> tuple[int, int]:
        """Lengths every bounded string accepts: for the strings a single token opens and
        closes after its first, whose property the mask does not know."""
        if not self.string_bounds:
            return 0, _UNUSABLE
        lo = max(b[0] for b in self.string_bounds.values())
        hi = min(b[1] for b in self.string_bounds.values())
        return min(lo, hi), hi


class PlanGrammar:
    """Compiles per-request JSON Schemas for one tokenizer and hands out per-row constraints."""

    _cache: dict[tuple[int, int], PlanGrammar] = {}
    _cache_lock = threading.Lock()

    def __init__(self, tokenizer, vocab_size: int, stop_token_ids: list[int]) -> None:
        self.tokenizer = tokenizer  # kept alive: the cache key is its id()
        self.vocab_size = vocab_size
        self.info = _tokenizer_info(tokenizer, vocab_size, stop_token_ids)
        self.stop_token_ids = list(stop_token_ids)
        self.compiler = xgr.GrammarCompiler(self.info, max_threads=8)
        self._compiled: dict[str, CompiledPlan] = {}
        self._lock = threading.Lock()
        self.vocab = _vocab(self.info, vocab_size, self.stop_token_ids)

    @classmethod
    def for_tokenizer(cls, tokenizer, vocab_size: int, stop_token_ids: list[int] | None = None) -> PlanGrammar:
        """The cached PlanGrammar of this tokenizer (slow to build for big vocabularies)."""
        key = (id(tokenizer), vocab_size)
        with cls._cache_lock:
            grammar = cls._cache.get(key)
            if grammar is None or grammar.tokenizer is not tokenizer:
                stops = stop_token_ids or [tokenizer.eos_token_id]
                grammar = cls._cache[key] = cls(tokenizer, vocab_size, stops)
            return grammar

    def compile(self, schema: dict) -> CompiledPlan:
        """Compile a JSON Schema (fixed whitespace, properties in schema order), cached."""
        key = json.dumps(schema)  # not sorted: the property order is the grammar's order
        with self._lock:
            compiled = self._compiled.get(key)
        if compiled is None:
            unbounded, bounds = split_string_bounds(schema)
            compiled = CompiledPlan(self.compiler.compile_grammar(schema_grammar(unbounded)), bounds)
            with self._lock:
                if len(self._compiled) >= 256:  # scenes change; keep the recent ones
                    self._compiled.pop(next(iter(self._compiled)))
                self._compiled[key] = compiled
        return compiled

    def constraint(self, compiled: CompiledPlan, budget: int) -> JsonConstraint:
        """A fresh per-row constraint for one answer of at most `budget` tokens."""
        matcher = xgr.GrammarMatcher(compiled.grammar)
        return JsonConstraint(matcher, self.vocab, budget, compiled.string_bounds, compiled.common_bounds)


@dataclass
class JsonConstraint:
    """One row's answer: its grammar matcher, string bounds, token budget, and the finisher."""

    matcher: xgr.GrammarMatcher
    vocab: _Vocab
    budget: int  # model tokens + forced tokens of the answer, at most
    string_bounds: dict[str, tuple[int, int]] = field(default_factory=dict)
    common_bounds: tuple[int, int] = (0, _UNUSABLE)
    # Measure the completion only this close to the end of the budget: it is far shorter than
    # this for plan-shaped schemas, and each measurement costs a fraction of a millisecond.
    window: int = 512
    token_ids: list[int] = field(default_factory=list)  # the model's tokens, accepted
    forced_ids: list[int] = field(default_factory=list)  # the finisher's tokens
    done: bool = False
    cursor: _Cursor = field(default_factory=lambda: _Cursor())
    _text: bytearray = field(default_factory=bytearray)  # the answer's bytes so far
    _last_fit: list[int] | None = None  # completion measured after the previous token

    def accept(self, token_id: int) -> None:
        """Take the model's next token; afterwards the row may be done (stop token or budget)."""
        if self.done:
            return
        if token_id in self.vocab.stop_ids:
            self.done = True  # the stop token ends the answer and is not part of it
            return
        if not self.matcher.accept_token(token_id):
            raise RuntimeError(f"token {token_id} is outside the grammar")
        self.token_ids.append(token_id)
        self._text += self._bytes(token_id)
        self.cursor.feed(self._bytes(token_id))
        if self.matcher.is_completed():
            self.done = True  # the root object is closed: only the stop token could follow
        elif self.budget - len(self.token_ids) <= self.window:
            self._check_budget()

    def fill(self, bitmask: torch.Tensor, row: int) -> None:
        """Write this row's grammar-allowed next tokens into `bitmask[row]`."""
        self.matcher.fill_next_token_bitmask(bitmask, row)

    def string_room(self) -> tuple[int, int] | None:
        """(characters still required, characters still allowed) in the open string, if it is
        a bounded one; None elsewhere."""
        cur = self.cursor
        if not cur.in_string or cur.is_key or cur.escaped or not cur.keys:
            return None
        bounds = self.string_bounds.get(cur.keys[-1])
        if bounds is None:
            return None
        return max(0, bounds[0] - cur.length), bounds[1] - cur.length

    def finish(self) -> None:
        """Close the JSON now (e.g. the decode loop ran out): append the completion."""
        if not self.done:
            self.forced_ids = self.complete()
            self.done = True

    @property
    def all_ids(self) -> list[int]:
        return self.token_ids + self.forced_ids

    @property
    def answer_bytes(self) -> bytearray:
        """The bytes of the model's accepted tokens (not the finisher's); read, don't change."""
        return self._text

    def text(self) -> str:
        return b"".join(self._bytes(t) for t in self.all_ids).decode("utf-8")

    def complete(self) -> list[int]:
        """Token ids that take the current state to the end of the grammar, closing first."""
        # Walk the matcher itself and roll back afterwards: much cheaper than fork(), which
        # copies the whole token history.
        m = self.matcher
        cur = self.cursor.copy()
        last = self._text[-1] if self._text else 0x7B
        out: list[int] = []
        steps = 0
        try:
            while not m.is_completed():
                if len(out) > _MAX_COMPLETION:
                    raise RuntimeError("grammar completion did not terminate")
                forced = _jump_forward(m)
                ids = [self.vocab.byte_token.get(b) for b in forced]
                if forced and None not in ids and m.accept_string(forced):
                    step = ids
                else:
                    tid = self._closing_token(m, cur, last)
                    step = [tid if tid is not None else self._shortest_allowed(m)]
                steps += 1
                out += step
                for tid in step:
                    raw = self._bytes(tid)
                    cur.feed(raw)
                    last = raw[-1] if raw else last
        finally:
            m.rollback(steps)
        return out

    def _check_budget(self) -> None:
        completion = self.complete()
        if len(self.token_ids) + len(completion) <= self.budget:
            self._last_fit = completion
            return
        if self._last_fit is not None:
            # This token made the plan too long to close in budget: take it back and close
            # from the state before it, whose completion was measured to fit.
            dropped = self.token_ids.pop()
            del self._text[len(self._text) - len(self._bytes(dropped)) :]
            self.matcher.rollback(1)
            self.cursor = _Cursor()
            self.cursor.feed(bytes(self._text))
            completion = self._last_fit
        self.forced_ids = completion  # without a fitting state (tiny budget): close anyway
        self.done = True

    def _closing_token(self, m: xgr.GrammarMatcher, cur: _Cursor, last: int) -> int | None:
        if cur.in_string:
            bounds = self.string_bounds.get(cur.keys[-1]) if cur.keys and not cur.is_key else None
            order = _FILL if bounds and cur.length < bounds[0] else _INSIDE
        elif last in _VALUE_NEXT:
            order = _VALUE
        else:
            order = _AFTER_VALUE
        for b in order:
            tid = self.vocab.byte_token.get(b)
            if tid is not None and m.accept_token(tid):
                return tid
        return None

    def _shortest_allowed(self, m: xgr.GrammarMatcher) -> int:
        # E.g. the rest of a multi-byte character, or a tokenizer without single-byte tokens.
        mask = xgr.allocate_token_bitmask(1, len(self.vocab.token_len))
        m.fill_next_token_bitmask(mask, 0)
        allowed = allowed_token_ids(mask[0], len(self.vocab.token_len))
        tid = min(allowed, key=self.vocab.token_len.__getitem__)
        if self.vocab.token_len[tid] == _UNUSABLE or not m.accept_token(tid):
            raise RuntimeError("grammar completion found no usable token")
        return tid

    def _bytes(self, token_id: int) -> bytes:
        decoded = self.vocab.decoded
        return decoded[token_id] if token_id < len(decoded) else b""


class _Cursor:
    """Where the answer is in its JSON text: which property's value is open, and, inside a
    string, how many characters it has. The grammar guarantees the text is a JSON prefix with
    fixed separators, so a byte-level scan suffices."""

    __slots__ = ("stack", "keys", "in_string", "is_key", "escaped", "expect_key", "key", "length")

    def __init__(self) -> None:
        self.stack: list[int] = []  # open containers: ord("{") or ord("[")
        self.keys: list[str | None] = []  # per open object: the key whose value is being read
        self.in_string = self.is_key = self.escaped = self.expect_key = False
        self.key = bytearray()
        self.length = 0  # characters in the open value string

    def copy(self) -> _Cursor:
        other = _Cursor()
        other.stack, other.keys, other.key = list(self.stack), list(self.keys), bytearray(self.key)
        other.in_string, other.is_key, other.escaped = self.in_string, self.is_key, self.escaped
        other.expect_key, other.length = self.expect_key, self.length
        return other

    def feed(self, data: bytes) -> None:
        for b in data:
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                elif b == 0x5C:  # backslash: an escape, one character
                    self.escaped = True
                    self.length += 1
                elif b == 0x22:
                    self.in_string = False
                    if self.is_key and self.keys:
                        self.keys[-1] = self.key.decode("utf-8", "replace")
                elif self.is_key:
                    self.key.append(b)
                elif b & 0xC0 != 0x80:  # not a UTF-8 continuation byte: a new character
                    self.length += 1
            elif b == 0x22:
                self.in_string, self.is_key, self.length = True, self.expect_key, 0
                self.key.clear()
            elif b == 0x7B:  # {
                self.stack.append(b)
                self.keys.append(None)
                self.expect_key = True
            elif b == 0x5B:  # [
                self.stack.append(b)
                self.expect_key = False
            elif b in (0x7D, 0x5D):  # } ]
                if self.stack and self.stack.pop() == 0x7B:
                    self.keys.pop()
                self.expect_key = False
            elif b == 0x2C:  # ,
                self.expect_key = bool(self.stack) and self.stack[-1] == 0x7B
            elif b == 0x3A:  # :
                self.expect_key = False


def split_string_bounds(schema: dict) -> tuple[dict, dict[str, tuple[int, int]]]:
    """The schema without `minLength`/`maxLength` on plain strings, and those bounds by the
    name of the property that holds the string (array items: the array's property). Where one
    name has several bounds, the tightest pair applies to all: still valid for each."""
    schema = copy.deepcopy(schema)
    bounds: dict[str, tuple[int, int]] = {}

    def walk(node: object, name: str | None) -> None:
        if isinstance(node, list):
            for v in node:
                walk(v, name)
            return
        if not isinstance(node, dict):
            return
        plain = node.get("type") == "string" and not {"enum", "const", "pattern"} & node.keys()
        if plain and ("minLength" in node or "maxLength" in node):
            lo, hi = node.pop("minLength", 0), node.pop("maxLength", _UNUSABLE)
            if name is not None:
                old_lo, old_hi = bounds.get(name, (0, _UNUSABLE))
                lo, hi = max(lo, old_lo), min(hi, old_hi)
                bounds[name] = (min(lo, hi), hi)
        for prop, sub in node.get("properties", {}).items():
            walk(sub, prop)
        for k in ("items", "anyOf", "oneOf", "allOf", "prefixItems"):
            if k in node:
                walk(node[k], name)

    walk(schema, None)
    return schema, bounds


def schema_grammar(schema: dict) -> xgr.Grammar:
    """xgrammar's grammar for a JSON Schema, with the fast, safe string rule (see the module
    docstring). Strings here must be unbounded: see `split_string_bounds`."""
    ebnf = str(xgr.Grammar.from_json_schema(json.dumps(schema), any_whitespace=False))
    lines = [_STRING_RULE if ln.startswith("basic_string ::=") else ln for ln in ebnf.splitlines()]
    return xgr.Grammar.from_ebnf("\n".join(lines))


def _jump_forward(m: xgr.GrammarMatcher) -> bytes:
    """The bytes the grammar forces next (keys, separators), or b"" when xgrammar cannot
    return them as text (they start inside a multi-byte character)."""
    try:
        return m.find_jump_forward_string().encode("utf-8")
    except UnicodeDecodeError:
        return b""


def _tokenizer_info(tokenizer, vocab_size: int, stop_token_ids: list[int]) -> xgr.TokenizerInfo:
    """A TokenizerInfo in which the tokenizer's special tokens never match any text.

    `from_huggingface` treats added tokens such as `<|vision_end|>` as their literal text, so a
    grammar would let them appear inside a JSON string. xgrammar treats blank entries as special.
    """
    probe = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size, stop_token_ids=stop_token_ids)
    encoded = [""] * vocab_size
    for token, idx in tokenizer.get_vocab().items():
        if idx < vocab_size:
            encoded[idx] = token
    special = set(tokenizer.all_special_ids)
    special |= {i for i, t in tokenizer.added_tokens_decoder.items() if t.special}
    for idx in special:
        if idx < vocab_size:
            encoded[idx] = ""
    return xgr.TokenizerInfo(
        encoded,
        probe.vocab_type,
        vocab_size=vocab_size,
        stop_token_ids=stop_token_ids,
        add_prefix_space=probe.add_prefix_space,
    )


def _vocab(info: xgr.TokenizerInfo, vocab_size: int, stop_token_ids: list[int]) -> _Vocab:
    decoded = list(info.decoded_vocab)
    special = set(info.special_token_ids) | set(stop_token_ids)
    byte_token: dict[int, int] = {}
    lens = [_UNUSABLE] * vocab_size
    first, closes = [_UNUSABLE] * vocab_size, [False] * vocab_size
    inner_first = [_UNUSABLE] * vocab_size
    inner_min = [[_UNUSABLE] * vocab_size, [_UNUSABLE] * vocab_size]
    inner_max = [[_UNUSABLE] * vocab_size, [_UNUSABLE] * vocab_size]
    tail = [[_UNUSABLE] * vocab_size, [_UNUSABLE] * vocab_size]
    for tid, raw in enumerate(decoded[:vocab_size]):
        if tid in special or not raw:
            continue  # unusable: every table says "does not fit"
        lens[tid] = len(raw)
        if len(raw) == 1:
            byte_token.setdefault(raw[0], tid)
        for start in (0, 1):
            f, c, inner, t = _scan_quotes(raw, inside=bool(start))
            if start:
                first[tid], closes[tid] = f, c
            elif inner and not raw[: raw.index(b'"')].strip(b" "):
                # Only blanks before its first quote: that string belongs to the cursor's context.
                inner_first[tid], inner = inner[0], inner[1:]
            else:
                inner_first[tid] = -1
            inner_min[start][tid] = min(inner, default=_UNUSABLE)
            inner_max[start][tid] = max(inner, default=-1)
            tail[start][tid] = t
    tables = _QuoteTables(
        torch.tensor(first),
        torch.tensor(closes),
        torch.tensor(inner_first),
        torch.tensor(inner_min),
        torch.tensor(inner_max),
        torch.tensor(tail),
    )
    return _Vocab(tuple(stop_token_ids), decoded, byte_token, lens, tables)


def _scan_quotes(raw: bytes, inside: bool) -> tuple[int, bool, list[int], int]:
    """How a token's bytes touch JSON strings, read from inside a string or not: (characters
    before the first quote, whether there is one, lengths of strings it opens and closes, length
    of a string it opens and leaves open). Strings here have no escapes (the grammar allows
    none), so every quote opens or closes; characters are UTF-8 lead bytes."""
    first, closed, inner, n = 0, False, [], 0
    opened_here = False  # the open string began inside this token
    for b in raw:
        if b == 0x22:
            if inside and not opened_here:
                closed = True
            elif inside:
                inner.append(n)
            inside, opened_here, n = not inside, not inside, 0
        elif inside and b & 0xC0 != 0x80:
            if opened_here:
                n += 1
            elif not closed:
                first += 1
    return first, closed, inner, n if opened_here and inside else 0


def allowed_token_ids(row: torch.Tensor, vocab_size: int) -> list[int]:
    """The token ids a one-row xgrammar bitmask allows."""
    bits = row.to(torch.int64) & 0xFFFFFFFF
    flags = (bits[:, None] >> torch.arange(32, dtype=torch.int64)) & 1
    return torch.nonzero(flags.flatten()[:vocab_size]).flatten().tolist()


_device_tables: dict[tuple[int, str], _QuoteTables] = {}
_banned_cache: dict[tuple, torch.Tensor] = {}


def _tables_on(vocab: _Vocab, device: torch.device) -> _QuoteTables:
    key = (id(vocab), str(device))
    if key not in _device_tables:
        _device_tables[key] = vocab.quotes.to(device)
    return _device_tables[key]


def _banned_by_bounds(c: JsonConstraint, n: int, device: torch.device) -> torch.Tensor:
    """Tokens that break a string bound whatever the open string's length: those depend on the
    cursor only through whether it is inside a string and, outside, on the open property's
    bounds, so they are computed once per such state and kept."""
    lo, hi = c.common_bounds
    cur = c.cursor
    start = int(cur.in_string)
    first_lo, first_hi = 0, _UNUSABLE
    if not start:
        # The first string a token opens is a key (unbounded) or the value of the open property.
        key = None if cur.expect_key or not cur.keys else cur.keys[-1]
        first_lo, first_hi = c.string_bounds.get(key, (0, _UNUSABLE)) if key else (0, _UNUSABLE)
    cache_key = (id(c.vocab), str(device), n, lo, hi, start, first_lo, first_hi)
    banned = _banned_cache.get(cache_key)
    if banned is None:
        q = _tables_on(c.vocab, device)
        fits = (q.inner_min[start, :n] >= lo) & (q.inner_max[start, :n] <= hi) & (q.tail[start, :n] <= hi)
        if not start:
            whole = q.inner_first[:n]
            fits &= (whole < 0) | ((whole >= first_lo) & (whole <= first_hi))
        banned = ~fits
        if len(_banned_cache) >= 256:
            _banned_cache.pop(next(iter(_banned_cache)))
        _banned_cache[cache_key] = banned
    return banned


def _length_mask(c: JsonConstraint, n: int, device: torch.device) -> torch.Tensor | None:
    """Tokens that would break a string's bounds (None: no bound applies)."""
    lo, hi = c.common_bounds
    room = c.string_room()
    if room is None and lo == 0 and hi >= _UNUSABLE:
        return None
    banned = _banned_by_bounds(c, n, device)
    if room is not None:
        need, left = room
        q = _tables_on(c.vocab, device)
        first, closes = q.first[:n], q.closes[:n]
        banned = banned | (first > left) | (closes & (first < need))
    return banned


def mask_rows(
    scores: torch.Tensor,
    constraints: list[JsonConstraint | None],
    rows: list[int],
    bitmask: torch.Tensor,
) -> None:
    """Mask `scores[rows]` in place: a row under way follows its grammar and its string bounds;
    a finished row may only emit its stop token (it is padding from then on)."""
    grammar_rows = []
    for row in rows:
        c = constraints[row]
        if c is None:
            continue
        if c.done:
            stop = c.vocab.stop_ids[0]
            scores[row].fill_(float("-inf"))
            scores[row, stop] = 0.0
        else:
            c.fill(bitmask, row)
            grammar_rows.append(row)
    if not grammar_rows:
        return
    xgr.apply_token_bitmask_inplace(scores, bitmask.to(scores.device), indices=grammar_rows)
    for row in grammar_rows:
        banned = _length_mask(constraints[row], scores.shape[-1], scores.device)
        if banned is None:
            continue
        bounded = scores[row].masked_fill(banned, float("-inf"))
        if torch.isfinite(bounded).any():  # never leave a row with nothing to sample
            scores[row] = bounded


class GrammarLogitsProcessor(LogitsProcessor):
    """HF `generate` logits processor: row i follows `constraints[i]` from its first new token.

    For prompts that end where the JSON begins; each row has its own grammar (the requests of a
    batch have different scenes). Pass the stop token as `eos_token_id`. A row is done when its
    JSON is complete or its budget is used; then only its stop token is allowed. After
    `generate`, call `finish()` on each constraint (the last sampled token is only seen by a
    next call) and take the answer from `text()`: the finisher's tokens are not in the
    generated sequence.
    """

    def __init__(self, constraints: list[JsonConstraint], vocab_size: int) -> None:
        self.constraints = constraints
        self.bitmask = xgr.allocate_token_bitmask(len(constraints), vocab_size)
        self._started = False

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self._started:
            for row, c in enumerate(self.constraints):
                c.accept(int(input_ids[row, -1]))
        self._started = True
        mask_rows(scores, self.constraints, list(range(len(self.constraints))), self.bitmask)
        return scores
