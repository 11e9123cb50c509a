#!/usr/bin/env python3
"""Prints N HS256 tokens for fresh random users, signed with $JWT_SECRET (bench only)."""
import base64, hashlib, hmac, json, os, sys, time, uuid


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


secret = os.environ["JWT_SECRET"].encode()
header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
exp = int(time.time()) + 86400
for i in range(int(sys.argv[1])):
    claims = {"sub": str(uuid.uuid4()), "email": f"w{i}@example.com", "exp": exp}
    body = header + "." + b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())
    print(body + "." + sig)
