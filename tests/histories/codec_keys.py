"""The key ring of the saved histories: a fixed test key, not a secret (it protects nothing real).

Histories recorded since payload encryption are sealed with it, so tests/workflows/test_replay.py can open
them; the older histories hold unencrypted payloads, which the codec passes through.
"""
from hotline.runtime import keyring

HISTORY_KEYS = keyring.parse("histories-1:lp7Rx7DSEb3Cm7Q9Y1ZSuRFN8BP/Uj9KS2CxyJDQO0U=",
                             "tests/histories/codec_keys.py")
