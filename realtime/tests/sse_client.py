"""A minimal Server-Sent Events reader over httpx, strict enough to check the wire format."""
import json
from dataclasses import dataclass, field


@dataclass
class Event:
    event: str = "message"
    id: str | None = None
    data: str = ""
    comments: list = field(default_factory=list)

    def json(self):
        return json.loads(self.data)


def events(lines):
    """Events (and comment-only blocks, as event ``comment``) from an iterator of lines."""
    current, data = Event(), []
    for line in lines:
        if line == "":
            if data:
                current.data = "\n".join(data)
                yield current
            elif current.comments:
                current.event = "comment"
                yield current
            current, data = Event(), []
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "":
            current.comments.append(value)
        elif name == "data":
            data.append(value)
        elif name == "event":
            current.event = value
        elif name == "id":
            current.id = value
