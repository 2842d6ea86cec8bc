"""The interaction modes of the slice panes, named in one place.

Like napari's layer modes, a mode only decides what the *left* button does; the other buttons keep
fixed meanings in every mode (right-drag = window/level, middle-drag = pan, wheel = scroll,
Ctrl+wheel = zoom) so a radiologist never has to switch modes for the common gestures.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Tool(Enum):
    NAVIGATE = "navigate"
    WINDOW_LEVEL = "window_level"
    ZOOM = "zoom"
    PAN = "pan"
    RULER = "ruler"
    ELLIPSE = "ellipse"
    BRUSH = "brush"
    ERASER = "eraser"
    FILL = "fill"

    @property
    def info(self) -> ToolInfo:
        return TOOL_INFO[self]


@dataclass(frozen=True)
class ToolInfo:
    label: str
    shortcut: str
    tip: str


TOOL_INFO: dict[Tool, ToolInfo] = {
    Tool.NAVIGATE: ToolInfo("Navigate", "N", "Left-click/drag moves the linked crosshair"),
    Tool.WINDOW_LEVEL: ToolInfo("Window/level", "W", "Left-drag: horizontal = width, vertical = centre"),
    Tool.ZOOM: ToolInfo("Zoom", "Z", "Left-drag up/down zooms"),
    Tool.PAN: ToolInfo("Pan", "P", "Left-drag moves the image"),
    Tool.RULER: ToolInfo("Ruler", "R", "Drag, or click twice, to measure a distance"),
    Tool.ELLIPSE: ToolInfo("Ellipse", "E", "Drag a box, or click two corners, to measure a region"),
    Tool.BRUSH: ToolInfo("Brush", "B", "Left-drag paints the active label ([ / ] brush size)"),
    Tool.ERASER: ToolInfo("Eraser", "X", "Left-drag erases the active label"),
    Tool.FILL: ToolInfo("Fill", "G", "Click fills the connected region with the active label"),
}

# Segmentation-editing modes: their left-button gestures go to the pane's edit handler
# (medlens.app.edit_tools), which is only attached while a segmentation is being edited.
EDIT_TOOLS = frozenset({Tool.BRUSH, Tool.ERASER, Tool.FILL})


class Button(Enum):
    """Mouse buttons, without Qt, so the interaction logic can be tested without a window."""

    LEFT = "left"
    MIDDLE = "middle"
    RIGHT = "right"


def gesture_for(button: Button, active: Tool) -> Tool:
    """What a drag with ``button`` does while ``active`` is the selected tool."""
    if button is Button.RIGHT:
        return Tool.WINDOW_LEVEL
    if button is Button.MIDDLE:
        return Tool.PAN
    return active
