"""Signaling and chat of one video room. Only the visit's doctor and patient may join, only while its
room is open; media flows browser to browser (WebRTC) and never through this server.

Every frame is validated: an unknown type, a huge SDP or a frame for another visit gets an error
back on the same socket, is not relayed, and leaves the call of the legitimate pair undisturbed.
"""

from channels.db import database_sync_to_async
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils.translation import gettext as _

from telemed.notifications.consumers import CLOSE_FORBIDDEN, JsonFramesConsumer, in_pool
from telemed.visits import rooms, selectors
from telemed.visits.models import BookingStatus

MAX_FRAME_CHARS = 64_000
MAX_SDP_CHARS = 30_000
MAX_CANDIDATE_CHARS = 2_000
CLOSE_ROOM_CLOSED = 4410


def _valid_signal(content: dict) -> dict:
    """The part of a signal frame that is relayed, rebuilt from checked fields only."""
    description, candidate = content.get("description"), content.get("candidate")
    if description is not None:
        if (
            not isinstance(description, dict)
            or description.get("type") not in ("offer", "answer", "rollback")
            or not isinstance(description.get("sdp", ""), str)
        ):
            raise ValidationError(_("This signaling frame is not valid."))
        if len(description.get("sdp", "")) > MAX_SDP_CHARS:
            raise ValidationError(_("This session description is too large."))
        return {"description": {"type": description["type"], "sdp": description.get("sdp", "")}}
    if candidate is not None:
        if not isinstance(candidate, dict) or not isinstance(candidate.get("candidate", ""), str):
            raise ValidationError(_("This signaling frame is not valid."))
        if len(candidate.get("candidate", "")) > MAX_CANDIDATE_CHARS:
            raise ValidationError(_("This signaling frame is not valid."))
        mid, index = candidate.get("sdpMid"), candidate.get("sdpMLineIndex")
        if (mid is not None and not isinstance(mid, str)) or (
            index is not None and (not isinstance(index, int) or isinstance(index, bool))
        ):
            raise ValidationError(_("This signaling frame is not valid."))
        return {"candidate": {"candidate": candidate.get("candidate", ""), "sdpMid": mid, "sdpMLineIndex": index}}
    raise ValidationError(_("This signaling frame is not valid."))


class VisitRoomConsumer(JsonFramesConsumer):
    max_frame_chars = MAX_FRAME_CHARS

    async def connect(self):
        if (user := await self.logged_in_user()) is None:
            return
        try:
            self.booking = await database_sync_to_async(selectors.room_get_for_user)(
                user, self.scope["url_route"]["kwargs"]["booking_id"]
            )
        except selectors.RoomClosed:
            await self.close(code=CLOSE_ROOM_CLOSED)
            return
        except (Http404, PermissionDenied, ValueError):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.user = user
        self.role = "doctor" if user.pk == self.booking.doctor_id else "patient"
        self.admitted = self.booking.status == BookingStatus.IN_PROGRESS
        await self.join(rooms.room_group(self.booking.pk))
        await self.send_json({"type": "hello", "role": self.role, "visit": self.booking.pk, "admitted": self.admitted})
        await self._to_others({"type": "room.presence", "role": self.role})

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self._to_others({"type": "room.left", "role": self.role})
        await super().disconnect(code)

    async def _to_others(self, event: dict):
        await self.channel_layer.group_send(self.group, {**event, "sender": self.channel_name})

    async def receive_json(self, content, **kwargs):
        kind = content.get("type")
        try:
            if "visit" in content and content["visit"] != self.booking.pk:
                raise ValidationError(_("This frame belongs to another visit."))
            if kind == "signal":
                if not self.admitted:
                    raise ValidationError(_("The call has not started yet."))
                await self._to_others({"type": "room.signal", **_valid_signal(content)})
            elif kind == "presence":
                await self._to_others(
                    {"type": "room.presence", "role": self.role, "reply": content.get("reply") is True}
                )
            elif kind == "waiting":
                await in_pool(rooms.visit_patient_waiting)(actor=self.user, booking=self.booking)
                await self._to_others({"type": "room.waiting"})
            elif kind == "admit":
                await in_pool(rooms.visit_admit)(actor=self.user, booking=self.booking)
            elif kind == "end":
                await in_pool(rooms.visit_end)(actor=self.user, booking=self.booking)
            elif kind == "chat":
                await in_pool(rooms.room_message_send)(actor=self.user, booking=self.booking, text=content.get("text"))
            elif kind == "notes":
                await in_pool(rooms.visit_notes_save)(actor=self.user, booking=self.booking, notes=content.get("notes"))
                await self.send_json({"type": "notes.saved"})
            elif kind == "stats":
                await in_pool(rooms.visit_stats_record)(
                    actor=self.user,
                    booking=self.booking,
                    rtt_ms=content.get("rtt_ms"),
                    packet_loss=content.get("packet_loss"),
                    width=content.get("width"),
                    height=content.get("height"),
                )
            else:
                raise ValidationError(_("Unknown request."))
        except ValidationError as error:
            await self.send_error(" ".join(error.messages))
        except (PermissionDenied, Http404):
            await self.send_error(_("You cannot do this in this room."))

    # Group events. Relayed ones skip the socket that sent them.

    async def room_signal(self, event):
        if event["sender"] != self.channel_name:
            await self.send_json(
                {"type": "signal", **{k: event[k] for k in ("description", "candidate") if k in event}}
            )

    async def room_presence(self, event):
        if event["sender"] != self.channel_name:
            await self.send_json({"type": "presence", "role": event["role"], "reply": event.get("reply", False)})

    async def room_left(self, event):
        if event["sender"] != self.channel_name:
            await self.send_json({"type": "left", "role": event["role"]})

    async def room_waiting(self, event):
        if event["sender"] != self.channel_name:
            await self.send_json({"type": "waiting"})

    async def room_admitted(self, event):
        self.admitted = True
        await self.send_json({"type": "admitted"})

    async def room_ended(self, event):
        self.admitted = False
        await self.send_json({"type": "ended"})

    async def room_chat(self, event):
        await self.send_json({"type": "chat", **event["message"]})
