"""OpenGL for the offscreen renderer: which platform, one renderer per process, one render thread.

`PYOPENGL_PLATFORM` is respected; unset, EGL is used when an NVIDIA device is present and OSMesa
(software, Debian `libosmesa6`) otherwise. It must be chosen before pyrender (and with it PyOpenGL)
is imported, hence the lazy import.

One GL context per process, made current in one thread: every draw runs in a single render thread
(`on_render_thread`), whichever thread asks for it, so work from several threads queues for the
renderer and an OSMesa context never moves between threads. A forked child must not inherit a
context (`renderer_started` tells whether this process holds one); the render thread is made
anew in a child.

Known clash: once OSMesa (llvmpipe) has rendered in a process, importing triton (which torch may
pull in) in that process crashes it, as both load their own LLVM. Keep rendering out of processes
that import torch.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
_STATE: dict[str, Any] = {}  # the process's pyrender module, renderer and render thread
_LOCK = threading.Lock()


def pyrender() -> Any:
    """The pyrender module, imported once the GL platform is chosen."""
    if "pyrender" not in _STATE:
        if "PYOPENGL_PLATFORM" not in os.environ:
            if "OpenGL" in sys.modules:  # it has picked its platform already (GLX: needs a display)
                raise RuntimeError(
                    "OpenGL was imported before the renderer chose a platform: set PYOPENGL_PLATFORM=osmesa (or egl)"
                )
            os.environ["PYOPENGL_PLATFORM"] = "egl" if os.path.exists("/dev/nvidiactl") else "osmesa"
        import pyrender as module

        _STATE["pyrender"] = module
    return _STATE["pyrender"]


def renderer_started() -> bool:
    """Whether this process holds a GL context (a forked child must not inherit one)."""
    return "renderer" in _STATE


def on_render_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run `fn(*args)` on this process's render thread and return what it returns."""
    with _LOCK:
        pool = _STATE.get("thread")
        if pool is None or _STATE.get("pid") != os.getpid():  # none yet, or inherited by a fork
            pool = _STATE["thread"] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evlm-render")
            _STATE["pid"] = os.getpid()
    return pool.submit(fn, *args).result()


def offscreen(width: int, height: int) -> Any:
    """The process's pyrender OffscreenRenderer at this size (call on the render thread)."""
    module = pyrender()
    r = _STATE.get("renderer")
    if r is None or (r.viewport_width, r.viewport_height) != (width, height):
        if r is not None:
            r.delete()
        r = _STATE["renderer"] = module.OffscreenRenderer(width, height)
        r._renderer._program_cache = _stable_program_cache(module)()
    return r


def _stable_program_cache(module: Any) -> type:
    """pyrender's shader cache keys on the GL context object; under OSMesa that is a new ctypes
    pointer object on every call, never equal to the last, so every draw compiled its shaders
    again (10x slower, and a leak). One renderer owns one context: key on the shaders alone."""

    class StableProgramCache(module.shader_program.ShaderProgramCache):
        def __init__(self) -> None:
            super().__init__()
            self._stable: dict = {}

        def get_program(self, vertex_shader, fragment_shader, geometry_shader=None, defines=None):  # noqa: ANN001, ANN201
            key = (vertex_shader, fragment_shader, geometry_shader, tuple(sorted((defines or {}).items())))
            if key not in self._stable:
                self._stable[key] = super().get_program(vertex_shader, fragment_shader, geometry_shader, defines)
            return self._stable[key]

        def clear(self) -> None:
            super().clear()
            self._stable.clear()

    return StableProgramCache


def forget_gl_pointers() -> None:
    """Drop what PyOpenGL keeps per context for finished draws (vertex-attribute offsets).

    It files them under the current context object, which OSMesa hands out anew on every call
    (equal hashes, never equal): one more entry per draw, all in one hash chain, so a long run
    would leak and slow down quadratically. pyrender draws from buffer objects, so nothing kept
    there is needed once a frame is read back.
    """
    from OpenGL import contextdata

    for storage in contextdata.STORAGES:
        storage.clear()
