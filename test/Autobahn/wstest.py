# Starts Autobahn|Testsuite's wstest (Python 2.7) from sources on PYTHONPATH (run.sh sets it up), without
# installing or compiling anything.
#
# Two packages wstest imports but the fuzzing client over ws:// never uses are stood in for when absent:
#   pyOpenSSL: fuzzing.py imports twisted.internet.ssl, which imports OpenSSL (a compiled package); only TLS modes
#     (wss://, -k/-c) use it, and here they fail with a clear error instead.
#   unittest2: serializer.py imports autobahn's WAMP serializer tests, which import unittest2; Python 2.7's own
#     unittest is unittest2's source, and only the `serializer` mode touches it.
#
# And autobahn's two byte-at-a-time loops get faster exact equivalents when wsaccel (the compiled accelerator that
# autobahn[accelerate], as the suite pins it, installs) is absent: without it the pure-Python UTF-8 validator and
# XOR masker take most of a run's CPU (12.* and 13.* send thousands of messages of up to 128 KiB), over 30 minutes
# for one target. Same classes, same results:
#   Utf8Validator.validate: runs of complete valid code points (from the accept state) are skipped with one
#     regular expression, the W3C's strict UTF-8 grammar, which accepts exactly what Hoehrmann's DFA accepts; every
#     other byte (a code point cut at the chunk's end, an invalid one) still goes through autobahn's own DFA, so
#     state, valid?, endsOnCodePoint?, currentIndex and totalIndex are those of autobahn's validator.
#   createXorMasker: XOR with the mask (rotated to the masker's pointer) as two big integers.
# They are checked against autobahn's own on a set of inputs at every start (fast_paths_check); set
# WSTEST_SLOW=1 to run with autobahn's pure-Python classes instead.
import os
import sys
import types

try:
    import OpenSSL  # noqa: F401
except ImportError:
    import twisted.internet

    ssl = types.ModuleType("twisted.internet.ssl")

    def _no_tls(*args, **kwargs):
        raise RuntimeError("no TLS in this wstest: pyOpenSSL is not installed (ws:// only)")

    ssl.supported = False
    ssl.DefaultOpenSSLContextFactory = ssl.ClientContextFactory = _no_tls
    sys.modules["twisted.internet.ssl"] = ssl
    twisted.internet.ssl = ssl

try:
    import unittest2  # noqa: F401
except ImportError:
    import unittest

    sys.modules["unittest2"] = unittest



def install_fast_paths():
    import binascii
    import random
    import re

    import autobahn.websocket.utf8validator as u8
    import autobahn.websocket.xormasker as xm

    if "wsaccel" in str(u8.Utf8Validator) or not hasattr(xm, "XorMaskerSimple"):
        return  # wsaccel is there: autobahn uses it already
    assert "autobahn.websocket.protocol" not in sys.modules, "patch before autobahn's protocol binds the classes"

    dfa = [ord(c) for c in u8.UTF8VALIDATOR_DFA_S]
    accept, reject = u8.UTF8_ACCEPT, u8.UTF8_REJECT
    valid_run = re.compile(
        "(?:[\x00-\x7f]+|[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]"
        "|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]"
        "|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2})*").match

    slow_validator = u8.Utf8Validator

    class Utf8Validator(slow_validator):
        def validate(self, ba):
            ba = str(ba)
            l = len(ba)
            i = 0
            state = self.state
            while i < l:
                if state == accept:
                    end = valid_run(ba, i).end()
                    if end > i:
                        i = end
                        continue
                state = dfa[256 + (state << 4) + dfa[ord(ba[i])]]
                if state == reject:
                    self.state = state
                    self.i += i
                    return False, False, i, self.i
                i += 1
            self.state = state
            self.i += l
            return True, state == accept, l, self.i

    slow_create = xm.createXorMasker

    class XorMasker(object):
        def __init__(self, mask):
            assert len(mask) == 4
            self.ptr = 0
            self.mask = str(mask)

        def pointer(self):
            return self.ptr

        def reset(self):
            self.ptr = 0

        def process(self, data):
            data = str(data)
            n = len(data)
            if n == 0:
                return ""
            shift = self.ptr & 3
            mask = (self.mask[shift:] + self.mask[:shift]) * (n // 4 + 1)
            x = long(binascii.hexlify(data), 16) ^ long(binascii.hexlify(mask[:n]), 16)  # noqa: F821 (Python 2)
            self.ptr += n
            return binascii.unhexlify("%0*x" % (2 * n, x))

    def createXorMasker(mask, length=None):
        return XorMasker(mask)

    def fast_paths_check():
        rnd = random.Random(6455)
        pieces = ["a", "\x7f", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf", "\xed\xa0\x80",
                  "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xc0\xaf",
                  "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\x80", "\xbf", "\xfe", "\xff", "\xce\xba\xe1\xbd\xb9",
                  "\xf5\x80\x80\x80", "\xc1\xbf", "\xe1\x80", "\xf1\x80\x80"]
        for _ in range(3000):
            text = "".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 12)))
            cuts = sorted(rnd.sample(range(len(text) + 1), min(len(text) + 1, rnd.randint(0, 3))))
            chunks = [text[a:b] for a, b in zip([0] + cuts, cuts + [len(text)])]
            fast, slow = Utf8Validator(), slow_validator()
            for chunk in chunks + ["\x80", "a"]:
                assert fast.validate(chunk) == slow.validate(chunk), (text, chunks)
                assert fast.state == slow.state
        for _ in range(300):
            mask = "".join(chr(rnd.randint(0, 255)) for _ in range(4))
            fast, slow = createXorMasker(mask), slow_create(mask, rnd.choice([None, 200]))
            for _ in range(rnd.randint(1, 4)):
                data = "".join(chr(rnd.randint(0, 255)) for _ in range(rnd.choice([0, 1, 3, 4, 7, 130, 1000])))
                assert fast.process(data) == slow.process(data)
                assert fast.pointer() == slow.pointer()

    fast_paths_check()
    u8.Utf8Validator = Utf8Validator
    xm.createXorMasker = createXorMasker


if os.environ.get("WSTEST_SLOW") != "1":
    install_fast_paths()

from autobahntestsuite import wstest  # noqa: E402

sys.argv[0] = "wstest"
wstest.run()
