"""S3's flexible checksums computed in the test, base64-encoded as in `x-amz-checksum-*`.

botocore computes CRC32C and CRC64NVME only with `awscrt` installed; these table-driven
versions let the tests send and check those algorithms without it (objects here are small).
"""

from __future__ import annotations

import base64
import hashlib
import zlib


def _table(poly: int, bits: int) -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c & ((1 << bits) - 1))
    return table


_CRC32C = _table(0x82F63B78, 32)
_CRC64NVME = _table(0x9A6C9329AC4BC9B5, 64)


def crc32c_int(data: bytes) -> int:
    c = 0xFFFFFFFF
    t = _CRC32C
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def crc64nvme_int(data: bytes) -> int:
    mask = (1 << 64) - 1
    c = mask
    t = _CRC64NVME
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ mask


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def checksum(algorithm: str, data: bytes) -> str:
    """The base64 value S3 reports for `algorithm` (CRC32, CRC32C, CRC64NVME, SHA1, SHA256)."""
    a = algorithm.upper()
    if a == "CRC32":
        return b64((zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "big"))
    if a == "CRC32C":
        return b64(crc32c_int(data).to_bytes(4, "big"))
    if a == "CRC64NVME":
        return b64(crc64nvme_int(data).to_bytes(8, "big"))
    if a == "SHA1":
        return b64(hashlib.sha1(data).digest())
    if a == "SHA256":
        return b64(hashlib.sha256(data).digest())
    raise ValueError(algorithm)


def md5_b64(data: bytes) -> str:
    return b64(hashlib.md5(data).digest())


# Known-answer checks (check value of "123456789" for each CRC).
assert crc32c_int(b"123456789") == 0xE3069283
assert crc64nvme_int(b"123456789") == 0xAE8B14860A799888
