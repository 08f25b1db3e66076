"""The EVLM sidebar panel (View3D > N > EVLM), its operators, and the timer that drives a request.

Blender never waits on the capture or the network: Suggest checks the settings and starts a
`capture.CaptureRun`; a `bpy.app.timers` callback (`tick`) then renders one Workbench pass per
call (the status line counts the views, the UI redraws in between, Cancel works), hands the
request to the client when the views are done (a non-blocking send), and polls the client every
`POLL_S`, feeding the events to the pure `evlm.session.Session` that the panel draws. No thread is
started, so nothing but Blender's main thread touches bpy.
"""

# No `from __future__ import annotations`: bpy reads the property annotations as objects.
from typing import Any

import bpy
from bpy.props import BoolProperty, IntProperty, PointerProperty, StringProperty

from evlm.plantext import describe_op, wrap
from evlm.protocol import MAX_INSTRUCTION_CHARS
from evlm.session import Driver, Session, SessionError, State

from . import preferences

WARM_UP_S = 2.0  # after the add-on starts (Blender's own start-up done), the first render is paid
POLL_S = 0.1  # timer period while a request is in flight
CAPTURE_S = 0.001  # timer period while capturing: the next render once Blender has redrawn
REASONING_TAIL = 12  # lines of the reasoning shown while it streams

STATUS_ICONS = {
    State.IDLE: "INFO",
    State.CAPTURING: "RENDER_STILL",
    State.SENT: "EXPORT",
    State.QUEUED: "SORTTIME",
    State.REASONING: "TIME",
    State.DONE: "CHECKMARK",
    State.ERROR: "ERROR",
    State.CANCELLED: "CANCEL",
    State.TIMEOUT: "ERROR",
}


class AddonState:
    """What lives while the add-on is registered: the session, its driver, the capture under way
    (with what to send once it is done), the panel's toggles."""

    def __init__(self) -> None:
        self.session = Session()
        self.driver = Driver(self.session, make_client)
        self.capture: Any = None  # the CaptureRun while the views are rendered
        self.request: dict[str, Any] = {}  # the rest of the request: references, max_suggestions, stream
        self.expanded: set[int] = set()  # suggestions whose details are open

    def drop_capture(self) -> None:
        """Forget the capture under way: between its steps the scene is the artist's, nothing to undo."""
        self.capture, self.request = None, {}


def make_client() -> Any:
    from evlm.client import Client

    prefs = preferences.get_prefs()
    endpoint = preferences.check_endpoint(prefs.endpoint)
    return Client(endpoint, timeout_s=prefs.timeout, curve=preferences.curve_keys(prefs))


STATE = AddonState()


# ---------------------------------------------------------------------- timer
def tick() -> float | None:
    """The timer callback: one capture step, or one poll of the server. Returns the next interval,
    or None to stop."""
    if STATE.capture is not None:
        if STATE.session.state == State.CAPTURING:
            next_in = capture_step()
            redraw()
            return next_in
        STATE.drop_capture()  # cancelled (or the session moved on) between two steps
    try:
        keep = STATE.driver.tick()
    except Exception as e:  # a broken socket must not kill the timer silently with the request pending
        STATE.session.fail(f"lost the connection: {e}", code="client")
        STATE.driver.close()
        keep = False
    redraw()
    return POLL_S if keep else None


def capture_step() -> float | None:
    """Render the next pass of the capture under way; once the views are done, send the request."""
    run, session = STATE.capture, STATE.session
    try:
        finished = run.step()
    except Exception as e:  # any capture failure ends this request with its message, never a traceback
        STATE.drop_capture()
        if isinstance(e, ReferenceError):  # an undo between two steps replaced the scene's data
            message = "the scene changed while it was being captured (an undo?): press Suggest again"
        else:
            message = str(e) if isinstance(e, ValueError) else f"{type(e).__name__}: {e}"
        session.fail(message, code="capture_failed")
        return None
    session.capture_progress(run.done, run.total)
    if not finished:
        return CAPTURE_S
    captured, request = run.result(), STATE.request
    STATE.drop_capture()
    try:
        STATE.driver.submit(captured.views, captured.scene, **request)
    except Exception:  # the session holds the reason
        return None
    return POLL_S


def warm_up() -> None:
    """The one-shot timer that pays Blender's first-render start-up (and on a fresh machine the
    shader compilation) when the add-on starts, not at the artist's first Suggest."""
    if STATE.capture is not None:  # a capture under way warms up by itself
        return None
    from .capture import warm_up as render_once

    try:
        seconds = render_once(preferences.get_prefs().resolution)
    except Exception as e:  # best effort: the first capture then pays for it
        print(f"EVLM: render warm-up failed: {type(e).__name__}: {e}")
        return None
    print(f"EVLM: render warm-up took {seconds:.2f} s")
    return None


@bpy.app.handlers.persistent
def on_load(_: object) -> None:
    """Another file was opened: suggestions for (and a capture of) the old one mean nothing there."""
    STATE.drop_capture()
    STATE.driver.cancel()
    STATE.driver.close()
    STATE.session.clear()
    STATE.expanded.clear()


def ensure_timer() -> None:
    if not bpy.app.timers.is_registered(tick):
        bpy.app.timers.register(tick, first_interval=CAPTURE_S if STATE.capture is not None else POLL_S)


def redraw() -> None:
    wm = bpy.context.window_manager
    for window in wm.windows if wm is not None else ():
        screen = window.screen
        for area in screen.areas if screen is not None else ():
            if area.type == "VIEW_3D":
                area.tag_redraw()


# ---------------------------------------------------------------------- properties
class EVLMProperties(bpy.types.PropertyGroup):
    instruction: StringProperty(
        name="Instruction",
        description='What to change, in your own words ("make it cozier")',
        maxlen=MAX_INSTRUCTION_CHARS,
    )
    reference: StringProperty(
        name="Reference", description="Optional PNG/JPEG image of the look you want", subtype="FILE_PATH"
    )
    show_reasoning: BoolProperty(name="Reasoning", description="Show the model's reasoning", default=True)


# ---------------------------------------------------------------------- operators
class EVLM_OT_suggest(bpy.types.Operator):
    bl_idname = "evlm.suggest"
    bl_label = "Suggest"
    bl_description = "Capture the scene (one view at a time) and ask the EVLM server for edit suggestions"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return not STATE.session.active

    def execute(self, context: bpy.types.Context) -> set[str]:
        props = context.window_manager.evlm
        prefs = preferences.get_prefs(context)
        session = STATE.session
        try:
            session.begin_capture(props.instruction)
        except (ValueError, SessionError) as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        STATE.expanded.clear()
        try:  # everything that can be wrong with the settings, before spending time on renders
            preferences.check_endpoint(prefs.endpoint)
            preferences.curve_keys(prefs)
            references = read_references(props)
            settings = preferences.capture_settings(prefs, context.scene, with_reference=bool(references))
        except (ValueError, OSError) as e:
            session.fail(str(e), code="bad_settings")
            self.report({"ERROR"}, session.status_text())
            return {"CANCELLED"}
        try:  # the scene graph and what can be wrong with the scene; the views come tick by tick
            from .capture import CaptureRun

            run = CaptureRun(context.scene, settings)
        except Exception as e:  # any capture failure ends this request with its message, never a traceback
            session.fail(f"{type(e).__name__}: {e}" if not isinstance(e, ValueError) else str(e), code="capture_failed")
            self.report({"ERROR"}, session.status_text())
            return {"CANCELLED"}
        STATE.capture = run
        STATE.request = {"references": references, "max_suggestions": prefs.max_suggestions, "stream": prefs.stream}
        session.capture_progress(0, run.total)
        ensure_timer()
        redraw()
        return {"FINISHED"}


class EVLM_OT_cancel(bpy.types.Operator):
    bl_idname = "evlm.cancel"
    bl_label = "Cancel"
    bl_description = "Stop the capture, or stop waiting for the suggestions (the server drops the work)"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return STATE.session.active

    def execute(self, context: bpy.types.Context) -> set[str]:
        STATE.drop_capture()
        STATE.driver.cancel()
        redraw()
        return {"FINISHED"}


class EVLM_OT_check_server(bpy.types.Operator):
    bl_idname = "evlm.check_server"
    bl_label = "Check Server"
    bl_description = "Ping the EVLM server"

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            STATE.driver.ping()
        except Exception as e:  # bad endpoint or key files
            STATE.session.reachable = False
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        ensure_timer()
        return {"FINISHED"}


class _SuggestionOperator:
    index: IntProperty(name="Suggestion", min=0, options={"HIDDEN", "SKIP_SAVE"})

    def _suggestion(self) -> Any:
        try:
            return STATE.session.suggestion(self.index)
        except (IndexError, SessionError) as e:
            self.report({"ERROR"}, str(e))
            return None


class EVLM_OT_apply(_SuggestionOperator, bpy.types.Operator):
    bl_idname = "evlm.apply"
    bl_label = "Apply"
    bl_description = "Apply this suggestion to the scene (one undo step)"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        suggestion = self._suggestion()
        if suggestion is None:
            return {"CANCELLED"}
        from .apply import ApplyError, apply_suggestion

        try:
            report = apply_suggestion(context.scene, suggestion)
        except ApplyError as e:  # all or nothing: the scene is as it was
            where = f" (op {e.op_index + 1})" if e.op_index is not None else ""
            self.report({"ERROR"}, f"Not applied{where}: {e.code}: {e.message}")
            return {"CANCELLED"}
        except ValueError as e:  # a suggestion that does not validate (never one the session accepted)
            self.report({"ERROR"}, f"Not applied: {e}")
            return {"CANCELLED"}
        except Exception as e:  # a bug, not a refusal: reported, never a traceback; apply_suggestion
            # either changed nothing yet (the checks) or has put everything back (the handlers)
            self.report({"ERROR"}, f"Not applied, the scene is unchanged: unexpected {type(e).__name__}: {e}")
            return {"CANCELLED"}
        for line in report.lines:
            self.report({"INFO"}, line)
        STATE.session.accept(self.index)
        save_feedback(self, context, self.index, quiet=True)
        return {"FINISHED"}


class EVLM_OT_reject(_SuggestionOperator, bpy.types.Operator):
    bl_idname = "evlm.reject"
    bl_label = "Reject"
    bl_description = "Mark this suggestion as wrong (saved as feedback)"

    def execute(self, context: bpy.types.Context) -> set[str]:
        if self._suggestion() is None:
            return {"CANCELLED"}
        STATE.session.reject(self.index)
        save_feedback(self, context, self.index)
        return {"FINISHED"}


class EVLM_OT_rate(_SuggestionOperator, bpy.types.Operator):
    bl_idname = "evlm.rate"
    bl_label = "Rate"
    bl_description = "Rate this suggestion from 1 (useless) to 5 (exactly right)"

    rating: IntProperty(name="Rating", min=1, max=5, default=3, options={"SKIP_SAVE"})

    def execute(self, context: bpy.types.Context) -> set[str]:
        if self._suggestion() is None:
            return {"CANCELLED"}
        STATE.session.rate(self.index, self.rating)
        save_feedback(self, context, self.index)
        return {"FINISHED"}


class EVLM_OT_toggle_suggestion(_SuggestionOperator, bpy.types.Operator):
    bl_idname = "evlm.toggle_suggestion"
    bl_label = "Details"
    bl_description = "Show or hide the rationale and the edits"
    bl_options = {"INTERNAL"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        STATE.expanded ^= {self.index}
        return {"FINISHED"}


def read_references(props: EVLMProperties) -> list[bytes]:
    """The reference image file as bytes (checked to be a PNG or JPEG), or nothing."""
    from evlm.protocol import image_size

    if not props.reference.strip():
        return []
    path = bpy.path.abspath(props.reference)
    with open(path, "rb") as f:
        blob = f.read()
    try:
        image_size(blob)
    except ValueError as e:
        raise ValueError(f"reference {path}: {e}") from None
    return [blob]


def save_feedback(op: bpy.types.Operator, context: bpy.types.Context, index: int, quiet: bool = False) -> bool:
    """Write the artist's judgement of a suggestion to the feedback folder, if one is set."""
    folder = preferences.feedback_folder(preferences.get_prefs(context))
    if folder is None:
        if not quiet:
            op.report({"WARNING"}, "Not saved: set a feedback folder in the EVLM add-on preferences")
        return False
    from evlm.feedback import save_feedback as save

    s = STATE.session
    choice = s.choices[index]
    try:
        save(
            folder,
            request_id=s.request_id,
            instruction=s.instruction,
            scene=s.scene,
            views=s.views,
            reasoning=s.reasoning,
            plan=s.plan,
            index=index,
            accepted=choice.accepted,
            rating=choice.rating,
            reference=s.references[0] if s.references else None,
        )
    except (OSError, ValueError) as e:  # feedback is a side effect: report, never undo the edit
        op.report({"WARNING"}, f"Feedback not saved: {e}")
        return False
    return True


# ---------------------------------------------------------------------- panel
class EVLM_PT_panel(bpy.types.Panel):
    bl_idname = "EVLM_PT_panel"
    bl_label = "EVLM"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "EVLM"

    def draw(self, context: bpy.types.Context) -> None:
        draw_panel(self.layout, context)


def text_width(context: bpy.types.Context) -> int:
    """Characters that fit on a label line of the sidebar (labels do not wrap by themselves)."""
    region = getattr(context, "region", None)
    scale = (context.preferences.system.ui_scale if context.preferences else 0.0) or 1.0  # 0 in background mode
    return max(20, int(region.width / (7.0 * scale)) - 2) if region is not None else 40


def draw_panel(layout: Any, context: bpy.types.Context) -> None:
    session, props = STATE.session, context.window_manager.evlm
    width = text_width(context)

    col = layout.column(align=True)
    col.prop(props, "instruction", text="")
    col.prop(props, "reference", text="", icon="IMAGE_DATA")
    row = layout.row(align=True)
    if session.active:
        row.operator("evlm.cancel", icon="CANCEL")
    else:
        row.operator("evlm.suggest", icon="PLAY")
    row.operator("evlm.check_server", text="", icon="URL")

    box = layout.box()
    status = box.column(align=True)
    status.alert = session.state in (State.ERROR, State.TIMEOUT)
    for i, line in enumerate(wrap(session.status_text(), width - 3)):
        status.label(text=line, icon=STATUS_ICONS[session.state] if i == 0 else "BLANK1")
    if session.reasoning:
        box.prop(
            props,
            "show_reasoning",
            emboss=False,
            icon="DISCLOSURE_TRI_DOWN" if props.show_reasoning else "DISCLOSURE_TRI_RIGHT",
        )
        if props.show_reasoning:
            text = box.column(align=True)
            tail = REASONING_TAIL if session.active else None
            for line in wrap(session.reasoning, width, max_lines=tail):
                text.label(text=line)

    for i, suggestion in enumerate(session.suggestions):
        draw_suggestion(layout.box(), i, suggestion, session.choices[i], i in STATE.expanded, width)


def draw_suggestion(box: Any, i: int, suggestion: Any, choice: Any, expanded: bool, width: int) -> None:
    head = box.row()
    op = head.operator(
        "evlm.toggle_suggestion",
        text=f"{i + 1}. {suggestion.title}",
        icon="DISCLOSURE_TRI_DOWN" if expanded else "DISCLOSURE_TRI_RIGHT",
        emboss=False,
    )
    op.index = i
    head.label(text=f"{suggestion.confidence:.0%}")
    lines = box.column(align=True)
    if expanded:
        for line in wrap(suggestion.rationale, width) if suggestion.rationale.strip() else ():
            lines.label(text=line)
    for edit in suggestion.ops if expanded else suggestion.ops[:1]:
        for j, line in enumerate(wrap(describe_op(edit), width - 3)):
            lines.label(text=line, icon="DOT" if j == 0 else "BLANK1")
    if not expanded and len(suggestion.ops) > 1:
        lines.label(text=f"... {len(suggestion.ops) - 1} more", icon="BLANK1")

    row = box.row(align=True)
    op = row.operator("evlm.apply", text="Apply again" if choice.applied else "Apply", icon="CHECKMARK")
    op.index = i
    op = row.operator("evlm.reject", icon="X", depress=choice.accepted is False)
    op.index = i
    row = box.row(align=True)
    row.label(text="Rating")
    for k in range(1, 6):
        op = row.operator("evlm.rate", text=str(k), depress=choice.rating == k)
        op.index, op.rating = i, k


# ---------------------------------------------------------------------- registration
CLASSES = (
    EVLMProperties,
    EVLM_OT_suggest,
    EVLM_OT_cancel,
    EVLM_OT_check_server,
    EVLM_OT_apply,
    EVLM_OT_reject,
    EVLM_OT_rate,
    EVLM_OT_toggle_suggestion,
    EVLM_PT_panel,
)


def register() -> None:
    global STATE
    STATE = AddonState()
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.WindowManager.evlm = PointerProperty(type=EVLMProperties)
    bpy.app.handlers.load_post.append(on_load)
    if not bpy.app.timers.is_registered(warm_up):
        bpy.app.timers.register(warm_up, first_interval=WARM_UP_S, persistent=True)  # a file may load first


def unregister() -> None:
    STATE.drop_capture()
    STATE.driver.cancel()  # tell the server, then drop the socket
    STATE.driver.close()
    for timer in (tick, warm_up):
        if bpy.app.timers.is_registered(timer):
            bpy.app.timers.unregister(timer)
    if on_load in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(on_load)
    del bpy.types.WindowManager.evlm
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
