"""How a request is decoded: the token budgets and the sampling, as plain data (no torch).

Both engines take one `DecodeSpec`; the stage machine reads the reasoning budget from it and the
grammar the answer budget.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class DecodeSpec:
    max_reasoning_tokens: int = 256  # free text after `<think>`; `</think>` is forced when it runs out
    max_answer_tokens: int = 768  # the JSON plan, model and finisher tokens together
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    seed: int | None = None  # sampling seed (None: torch's global generator as it is)

    def __post_init__(self) -> None:
        if self.max_reasoning_tokens < 1 or self.max_answer_tokens < 1:
            raise ValueError(
                f"token budgets must be at least 1, got reasoning {self.max_reasoning_tokens}, "
                f"answer {self.max_answer_tokens}"
            )
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError(f"need temperature >= 0 and 0 < top_p <= 1, got {self.temperature}, {self.top_p}")

    @property
    def sampling(self) -> bool:
        return self.temperature > 0

    def max_new_tokens(self, close_tokens: int) -> int:
        """New tokens a request may take: reasoning, the forced `</think>` close, the answer."""
        return self.max_reasoning_tokens + close_tokens + self.max_answer_tokens

    @classmethod
    def take(cls, kw: dict) -> DecodeSpec:
        """A spec from the keyword arguments named like its fields, removed from `kw`."""
        return cls(**{f.name: kw.pop(f.name) for f in fields(cls) if f.name in kw})
