"""The IoT agent's errors: NGSI-LD error types (rendered as ProblemDetails by the one renderer),
each also carrying the ``name`` and ``message`` members FIWARE's IoT agents answer with, so a
provisioning script that reads ``name`` keeps working (docs/iot.md).

    BadRequestData
     ├── WrongSyntax          400  WRONG_SYNTAX: a body or payload that does not parse or fit
     ├── MissingConfigParams  400  MISSING_CONFIG_PARAMS: apikey/resource missing in the URL
     └── InvalidExpression    400  INVALID_EXPRESSION: an expression that does not parse
    AlreadyExists
     ├── DuplicateGroup       409  DUPLICATE_GROUP
     └── DuplicateDeviceId    409  DUPLICATE_DEVICE_ID
    ResourceNotFound
     ├── DeviceNotFound       404  DEVICE_NOT_FOUND
     └── GroupNotFound        404  DEVICE_GROUP_NOT_FOUND
    CityhubError (InternalError)
     └── LazyFailed           502  a device asked for its lazy attributes could not be asked,
          │                        or answered what is not its measures
          ├── LazyUnavailable 503  it cannot be asked now (MQTT off, no endpoint)
          └── LazyTimeout     504  it did not answer within iot_lazy_timeout
"""

from __future__ import annotations

from typing import Any, ClassVar

from cityhub.errors import AlreadyExists, BadRequestData, CityhubError, ResourceNotFound


class _Fiware:
    fiware_name: ClassVar[str]

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail, name=self.fiware_name, message=detail, **extra)  # type: ignore[call-arg]


class WrongSyntax(_Fiware, BadRequestData):
    fiware_name = "WRONG_SYNTAX"


class MissingConfigParams(_Fiware, BadRequestData):
    fiware_name = "MISSING_CONFIG_PARAMS"


class InvalidExpression(_Fiware, BadRequestData):
    fiware_name = "INVALID_EXPRESSION"


class DuplicateGroup(_Fiware, AlreadyExists):
    fiware_name = "DUPLICATE_GROUP"


class DuplicateDeviceId(_Fiware, AlreadyExists):
    fiware_name = "DUPLICATE_DEVICE_ID"


class DeviceNotFound(_Fiware, ResourceNotFound):
    fiware_name = "DEVICE_NOT_FOUND"


class GroupNotFound(_Fiware, ResourceNotFound):
    fiware_name = "DEVICE_GROUP_NOT_FOUND"


class LazyFailed(CityhubError):
    """A device could not be asked for its lazy attributes (a read or a write), or answered
    what is not its measures (the federation shows it as an ``NGSILD-Warning``)."""

    title = "The device could not be asked for its lazy attributes"
    status = 502


class LazyUnavailable(LazyFailed):
    status = 503


class LazyTimeout(LazyFailed):
    status = 504


__all__ = [
    "DeviceNotFound",
    "DuplicateDeviceId",
    "DuplicateGroup",
    "GroupNotFound",
    "InvalidExpression",
    "LazyFailed",
    "LazyTimeout",
    "LazyUnavailable",
    "MissingConfigParams",
    "WrongSyntax",
]
