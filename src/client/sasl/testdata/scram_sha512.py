#!/usr/bin/env python3
"""Writes the SCRAM-SHA-512 fixture of src/client/sasl/scram.rs with Python's hashlib/hmac, independently of
our Rust code: user "al=ice,x", password "pässwörd,=1", fixed nonces and salt, 4096 iterations."""
import base64, hashlib, hmac, pathlib

user, password = "al=ice,x", "pässwörd,=1"
client_nonce, server_nonce = "clientnonce0123456789", "serverpart%$)9"
salt, iterations = b"pipewright-salt-512", 4096

here = pathlib.Path(__file__).parent
name = user.replace("=", "=3D").replace(",", "=2C")
client_first_bare = f"n={name},r={client_nonce}"
server_first = f"r={client_nonce}{server_nonce},s={base64.b64encode(salt).decode()},i={iterations}"
salted = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
client_key = hmac.new(salted, b"Client Key", hashlib.sha512).digest()
stored_key = hashlib.sha512(client_key).digest()
without_proof = f"c=biws,r={client_nonce}{server_nonce}"
auth_message = f"{client_first_bare},{server_first},{without_proof}".encode()
signature = hmac.new(stored_key, auth_message, hashlib.sha512).digest()
proof = bytes(a ^ b for a, b in zip(client_key, signature))
server_key = hmac.new(salted, b"Server Key", hashlib.sha512).digest()
server_signature = hmac.new(server_key, auth_message, hashlib.sha512).digest()
(here / "scram_sha512_server_first.txt").write_text(server_first + "\n")
(here / "scram_sha512_client_final.txt").write_text(f"{without_proof},p={base64.b64encode(proof).decode()}\n")
(here / "scram_sha512_server_final.txt").write_text(f"v={base64.b64encode(server_signature).decode()}\n")
