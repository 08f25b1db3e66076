"""Tiny random Qwen2-VL / Qwen2.5-VL / Qwen3-VL checkpoints, built locally for tests and smoke runs.

The folder is a standard Hugging Face checkpoint (config, safetensors weights, tokenizer,
image processor, chat template), so the engine loads it exactly like a real model through
`AutoProcessor` / `AutoModelForImageTextToText`. Nothing is downloaded: the byte-level BPE
tokenizer is trained here on a small built-in corpus. The weights are random, so the model
says nonsense; that is the point: constrained decoding must still end with a valid plan.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

ARCHS = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")

# Qwen's control tokens; `<think>`/`</think>` are single tokens here (they are plain text in
# the original Qwen2-VL tokenizer, the engine handles both).
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<think>",
    "</think>",
]

# Qwen2-VL's chat template, minus tool calls: image/video parts become vision placeholders
# that the processor expands to the right number of `<|image_pad|>` tokens.
_MESSAGE = (
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}"
    "{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}"
)
_GENERATION_PROMPT = "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}" + _MESSAGE + "{% endfor %}" + _GENERATION_PROMPT
)
# The same without system messages, for a model that learned its rules in training (EVLM-tiny).
CHAT_TEMPLATE_NO_SYSTEM = (
    "{% for message in messages %}{% if message['role'] != 'system' %}"
    + _MESSAGE
    + "{% endif %}{% endfor %}"
    + _GENERATION_PROMPT
)

# Same pre-tokenizer regex as transformers' Qwen2Tokenizer, so the saved vocab/merges mean
# the same thing when Qwen2Tokenizer rebuilds its pipeline on load.
_PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

_WORDS = """
the a an of to in on at for with by from and or but not is are be make it this that these those
scene object objects material materials light lights camera cameras view views frame frames
left right top bottom front back side above below near far behind center middle corner floor
wall table chair lamp sofa window door shelf plant cup bowl book rug bed desk vase mirror
cube sphere cylinder plane cone torus suzanne empty mesh curve text
red green blue yellow orange purple pink white black gray grey brown gold silver warm cool
bright dark dim soft hard glossy matte shiny rough smooth metallic emission transparent
bigger smaller larger taller shorter wider heavier lighter faster slower cozier calmer
move rotate scale turn raise lower lift drop tilt shift retime ease bounce fall jump spin
I think the user wants instruction reference image looks like should could would maybe
first then so because however reflect check plan intent target evidence magnitude
reading option suggestion confidence rationale title reasoning ops op params value values
""".split()

_OPS = """
translate rotate scale set_base_color set_roughness set_metallic set_emission set_alpha
assign_material set_light_color set_light_energy set_light_type add_light set_world_color
set_world_strength set_focal_length move_camera look_at set_visibility duplicate delete
shade_smooth shade_flat add_modifier remove_modifier adjust_modifier bevel subdivision array
solidify retime shift_keys scale_amplitude set_interpolation insert_keyframe delete_keyframe
set_frame_range generative_edit prompt mask boxes target targets object material light camera
mode absolute relative world local axis amount factor pivot frame channel interpolation
BEZIER LINEAR CONSTANT POINT SUN SPOT AREA location rotation_euler scale color energy
""".split()

_JSON_SNIPPETS = [
    '{"reasoning": "", "suggestions": [{"title": "", "rationale": "", "confidence": 0.5, '
    '"ops": [{"op": "translate", "target": "Cube", "value": [0.0, 0.0, 1.0]}]}]}',
    '{"op": "set_base_color", "target": "Material.001", "color": [1.0, 0.5, 0.25, 1.0]}',
    '{"op": "set_light_energy", "target": "Light", "energy": 1000}, {"op": "delete"}',
    '[{"a": 1}, {"b": -2.5}, {"c": true}, {"d": false}, {"e": null}] ": ", ", "}, {"',
    '"Cube.003" "Sphere.001" "Camera" "Light" "Plane" "Material" "World" "Armature"',
]


def _corpus() -> list[str]:
    from evlm_server.engine.prompt import system_prompt

    # The system prompt is in every request: learning its words keeps prompts short.
    lines = [" ".join(_WORDS), " ".join(_OPS), *_JSON_SNIPPETS, *system_prompt().splitlines()]
    lines += [" ".join(f'"{w}"' for w in _OPS), " ".join(w.capitalize() for w in _WORDS)]
    lines += [" ".join(f"{i} {i / 10:.1f} {-i * 0.25:.2f} {i * 100}" for i in range(40))]
    # Repeat so the trainer sees frequent pairs; order is fixed, so training is deterministic.
    return lines * 8


def _train_tokenizer(vocab_size: int):
    return train_tokenizer(_corpus(), vocab_size)


def train_tokenizer(corpus: Iterable[str], vocab_size: int):
    """A byte-level BPE `tokenizers.Tokenizer` with Qwen's pre-tokenizer and control tokens,
    trained on `corpus` (every byte stays a token, so any text can be written)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.trainers import BpeTrainer

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte is a token
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    return tok


def wrap_tokenizer(tok, chat_template: str = CHAT_TEMPLATE):
    """Turn the trained `tokenizers.Tokenizer` into the Qwen2Tokenizer that Qwen checkpoints use."""
    import json

    from transformers import Qwen2Tokenizer

    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return Qwen2Tokenizer(
        vocab=model["vocab"],
        merges=merges,
        unk_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:],
        model_max_length=32768,
        chat_template=chat_template,
    )


def model_config(
    arch: str, vocab_size: int, token_ids: dict[str, int], text: dict | None = None, vision: dict | None = None
):
    """A Qwen2-VL / Qwen2.5-VL config: the tiny test sizes, with `text`/`vision` overriding them."""
    text_overrides, vision_overrides = text or {}, vision or {}
    text = (
        dict(
            vocab_size=vocab_size,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=32768,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
            bos_token_id=token_ids["<|endoftext|>"],
            eos_token_id=token_ids["<|im_end|>"],
            pad_token_id=token_ids["<|endoftext|>"],
        )
        | text_overrides
    )
    ids = dict(
        image_token_id=token_ids["<|image_pad|>"],
        video_token_id=token_ids["<|video_pad|>"],
        vision_start_token_id=token_ids["<|vision_start|>"],
        vision_end_token_id=token_ids["<|vision_end|>"],
    )
    if arch == "qwen2_vl":
        from transformers import Qwen2VLConfig

        vision = dict(depth=1, embed_dim=32, hidden_size=64, mlp_ratio=2, num_heads=2) | vision_overrides
        return Qwen2VLConfig(text_config=text, vision_config=vision, **ids)
    if arch == "qwen2_5_vl":
        from transformers import Qwen2_5_VLConfig

        vision = (
            dict(
                depth=2,
                hidden_size=32,
                intermediate_size=64,
                num_heads=2,
                out_hidden_size=64,
                window_size=56,
                fullatt_block_indexes=[1],
            )
            | vision_overrides
        )
        return Qwen2_5_VLConfig(text_config=text, vision_config=vision, **ids)
    if arch == "qwen3_vl":
        from transformers import Qwen3VLConfig

        # Qwen3-VL interleaves its rotary sections and takes an explicit head size.
        rope = text["rope_parameters"] | {"mrope_section": [4, 2, 2], "mrope_interleaved": True}
        text = text | {"head_dim": text["hidden_size"] // text["num_attention_heads"], "rope_parameters": rope}
        vision = (
            dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64,
                 num_position_embeddings=64, deepstack_visual_indexes=[1])
            | vision_overrides
        )  # fmt: skip
        return Qwen3VLConfig(text_config=text, vision_config=vision, **ids)
    raise ValueError(f"unknown arch {arch!r}: expected one of {', '.join(ARCHS)}")


def make_tiny_checkpoint(out_dir: str | Path, arch: str = "qwen2_vl", seed: int = 0, vocab_size: int = 2000) -> Path:
    """Write a tiny random `arch` checkpoint to `out_dir` and return its path.

    About 0.3 M parameters (hidden size 64, 2 layers; a 1-2 block vision tower); the trained
    vocabulary has up to `vocab_size` tokens. Deterministic for a given seed. Takes well under a
    second once transformers is imported.
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}: expected one of {', '.join(ARCHS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    tokenizer = wrap_tokenizer(_train_tokenizer(vocab_size))
    return build_checkpoint(out, tokenizer, arch, seed)


def build_checkpoint(
    out: Path,
    tokenizer,
    arch: str,
    seed: int,
    text: dict | None = None,
    vision: dict | None = None,
    chat_template: str = CHAT_TEMPLATE,
    pixels: tuple[int, int] = (56 * 56, 112 * 112),
) -> Path:
    """Random weights of `arch` for `tokenizer` (sizes: `model_config`), saved with the tokenizer
    and processor files as a standard checkpoint folder `out`. `pixels`: (min, max) per image."""
    import torch
    from transformers import AutoModelForImageTextToText, GenerationConfig

    token_ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    # Pad the embedding past the tokenizer like real Qwen checkpoints (151936 > 151665): the
    # engine must never sample those ids.
    padded_vocab = (len(tokenizer) + 127) // 128 * 128
    config = model_config(arch, padded_vocab, token_ids, text=text, vision=vision)

    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config, dtype=torch.float32)
    model.generation_config = GenerationConfig(
        bos_token_id=token_ids["<|endoftext|>"],
        eos_token_id=[token_ids["<|im_end|>"], token_ids["<|endoftext|>"]],
        pad_token_id=token_ids["<|endoftext|>"],
    )
    model.save_pretrained(out)

    tokenizer.save_pretrained(out)
    save_processor_files(out, arch, chat_template, *pixels)
    return out


def save_processor_files(
    out: Path, arch: str, chat_template: str = CHAT_TEMPLATE, min_pixels: int = 56 * 56, max_pixels: int = 112 * 112
) -> None:
    """Image/video processor configs and chat template, as a Qwen2-VL checkpoint has them.

    Written as files rather than through `Qwen2VLProcessor.save_pretrained`, because building
    that processor needs its video processor, which needs torchvision (not a dependency here).
    """
    import json

    from transformers import Qwen2VLImageProcessorPil

    # Few pixels per view: 112x112 max -> 16 merged tokens per image, so 6 views stay cheap.
    patch = 16 if arch == "qwen3_vl" else 14  # Qwen3-VL's vision tower takes 16-pixel patches
    image = Qwen2VLImageProcessorPil(min_pixels=min_pixels, max_pixels=max_pixels, patch_size=patch).to_dict()
    video = {k: v for k, v in image.items() if k != "image_processor_type"}
    video["video_processor_type"] = "Qwen3VLVideoProcessor" if arch == "qwen3_vl" else "Qwen2VLVideoProcessor"
    processor_class = {
        "qwen2_vl": "Qwen2VLProcessor",
        "qwen2_5_vl": "Qwen2_5_VLProcessor",
        "qwen3_vl": "Qwen3VLProcessor",
    }[arch]
    config = {"image_processor": image, "video_processor": video}
    config["processor_class"] = processor_class
    (out / "processor_config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "chat_template.jinja").write_text(chat_template)
    tok_config = out / "tokenizer_config.json"
    data = json.loads(tok_config.read_text())
    data["processor_class"] = processor_class
    tok_config.write_text(json.dumps(data, indent=2) + "\n")
