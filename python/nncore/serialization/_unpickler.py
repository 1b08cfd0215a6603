"""A pickle interpreter that runs no code: the opcodes of protocols 2-5 executed over data.

Python's ``pickle`` turns every ``GLOBAL`` into whatever object the file names and calls it on
``REDUCE``. Here names go to ``reader.find`` (which returns only handlers and allow-listed
classes), ``REDUCE`` calls only ``Call`` handlers or classes the reader's resolver lets it call,
``NEWOBJ`` only ``cls.__new__`` of classes the reader found, ``BUILD`` goes to ``reader.build``
and ``BINPERSID`` to ``reader.load_storage``. Malformed input raises ``reader.bad(...)``
(ValueError). The stack machine is iterative: deep nesting cannot overflow Python's stack.
"""

from __future__ import annotations

import _compat_pickle
import struct
from typing import Any, Callable


class Call:
    """A handler the pickle may call (REDUCE)."""

    def __init__(self, name: str, fn: Callable[..., Any]) -> None:
        self.name, self.fn = name, fn


class Machine:
    """The pickle opcodes of protocols 2-5 that ``torch.save`` emits, executed on data only."""

    def __init__(self, reader: Any, data: bytes) -> None:
        self.r, self.data, self.pos = reader, data, 0
        self.stack: list[Any] = []
        self.marks: list[int] = []
        self.memo: dict[int, Any] = {}
        self.protocol = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.r.bad("data.pkl ends in the middle of an opcode")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def num(self, fmt: str) -> int:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def pop(self) -> Any:
        if not self.stack or (self.marks and len(self.stack) <= self.marks[-1]):
            raise self.r.bad("data.pkl pops an empty stack")
        return self.stack.pop()

    def pop_mark(self) -> list[Any]:
        if not self.marks:
            raise self.r.bad("data.pkl uses a MARK it never set")
        start = self.marks.pop()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def top(self) -> Any:
        if not self.stack:
            raise self.r.bad("data.pkl reads an empty stack")
        return self.stack[-1]

    def text(self, n: int) -> str:
        try:
            return self.take(n).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError as e:
            raise self.r.bad(f"a string is not UTF-8 ({e})") from None

    def call(self, func: Any, args: Any) -> Any:
        if not isinstance(args, tuple):
            raise self.r.bad("REDUCE with arguments that are not a tuple")
        if isinstance(func, Call):
            try:
                return func.fn(*args)
            except TypeError as e:
                raise self.r.bad(f"{func.name}{args!r:.80}: {e}") from None
        if isinstance(func, type) and func in self.r.classes:
            if not self.r.resolve.may_call(func):
                raise self.r.resolve.refuse_call(func, self.r.where)
            return func(*args)
        raise self.r.bad(f"the pickle calls {func!r:.80}, which is not a class it may build")

    def set_items(self, target: Any, items: list[Any]) -> None:
        if not isinstance(target, dict) or len(items) % 2:
            raise self.r.bad("SETITEMS on a non-dict or with an odd number of items")
        for k, v in zip(items[::2], items[1::2]):
            try:
                target[k] = v
            except TypeError as e:
                raise self.r.bad(f"a dict key: {e}") from None

    def run(self) -> Any:  # noqa: C901 (one branch per opcode)
        while True:
            op = self.take(1)
            push = self.stack.append
            if op == b"\x80":  # PROTO
                self.protocol = self.num("<B")
                if self.protocol > 5:
                    raise self.r.bad("pickle protocol above 5")
            elif op == b"\x95":  # FRAME
                self.num("<Q")
            elif op == b".":  # STOP
                return self.pop()
            elif op == b"(":
                self.marks.append(len(self.stack))
            elif op == b"0":
                self.pop()
            elif op == b"1":
                self.pop_mark()
            elif op == b"2":
                push(self.top())
            elif op == b"N":
                push(None)
            elif op in (b"\x88", b"\x89"):
                push(op == b"\x88")
            elif op == b"J":
                push(self.num("<i"))
            elif op == b"K":
                push(self.num("<B"))
            elif op == b"M":
                push(self.num("<H"))
            elif op in (b"\x8a", b"\x8b"):  # LONG1, LONG4
                n = self.num("<B" if op == b"\x8a" else "<i")
                push(int.from_bytes(self.take(n), "little", signed=True))
            elif op == b"G":
                push(self.num(">d"))
            elif op in (b"X", b"\x8c", b"\x8d"):  # BINUNICODE, SHORT_, 8
                push(self.text(self.num({b"X": "<I", b"\x8c": "<B", b"\x8d": "<Q"}[op])))
            elif op in (b"B", b"C", b"\x8e", b"\x96"):  # BINBYTES, SHORT_, 8, BYTEARRAY8
                raw = self.take(self.num({b"B": "<I", b"C": "<B", b"\x8e": "<Q",
                                          b"\x96": "<Q"}[op]))
                push(bytearray(raw) if op == b"\x96" else raw)
            elif op in (b"T", b"U"):  # Python 2 str
                raw = self.take(self.num("<i" if op == b"T" else "<B"))
                push(raw if self.r.encoding == "bytes" else raw.decode(self.r.encoding))
            elif op == b")":
                push(())
            elif op == b"t":
                push(tuple(self.pop_mark()))
            elif op in (b"\x85", b"\x86", b"\x87"):
                n = op[0] - 0x84
                items = [self.pop() for _ in range(n)][::-1]
                push(tuple(items))
            elif op == b"]":
                push([])
            elif op == b"l":
                push(self.pop_mark())
            elif op in (b"a", b"e"):  # APPEND, APPENDS
                items = [self.pop()] if op == b"a" else self.pop_mark()
                target = self.top()
                if not isinstance(target, list):
                    raise self.r.bad("APPEND to a non-list")
                target.extend(items)
            elif op == b"}":
                push({})
            elif op == b"d":
                d: dict = {}
                self.set_items(d, self.pop_mark())
                push(d)
            elif op in (b"s", b"u"):  # SETITEM, SETITEMS
                if op == b"s":
                    v = self.pop()
                    items = [self.pop(), v]
                else:
                    items = self.pop_mark()
                self.set_items(self.top(), items)
            elif op == b"\x8f":
                push(set())
            elif op == b"\x90":  # ADDITEMS
                items = self.pop_mark()
                target = self.top()
                if not isinstance(target, set):
                    raise self.r.bad("ADDITEMS to a non-set")
                try:
                    target.update(items)
                except TypeError as e:
                    raise self.r.bad(f"a set item: {e}") from None
            elif op == b"\x91":  # FROZENSET
                try:
                    push(frozenset(self.pop_mark()))
                except TypeError as e:
                    raise self.r.bad(f"a frozenset item: {e}") from None
            elif op == b"c":  # GLOBAL
                module = self.line()
                push(self.find(module, self.line()))
            elif op == b"\x93":  # STACK_GLOBAL
                name, module = self.pop(), self.pop()
                if not isinstance(name, str) or not isinstance(module, str):
                    raise self.r.bad("STACK_GLOBAL of non-strings")
                push(self.find(module, name))
            elif op == b"R":
                args = self.pop()
                push(self.call(self.pop(), args))
            elif op in (b"\x81", b"\x92"):  # NEWOBJ, NEWOBJ_EX
                kwargs = self.pop() if op == b"\x92" else {}
                args, cls = self.pop(), self.pop()
                if not (isinstance(cls, type) and cls in self.r.classes
                        and isinstance(args, tuple) and isinstance(kwargs, dict)):
                    raise self.r.bad(f"NEWOBJ of {cls!r:.80}, not a class it may build")
                push(cls.__new__(cls, *args, **kwargs))
            elif op == b"b":  # BUILD
                state = self.pop()
                inst = self.pop()
                new = self.r.build(inst, state)
                if new is not inst:
                    for k, v in self.memo.items():
                        if v is inst:
                            self.memo[k] = new
                push(new)
            elif op == b"Q":  # BINPERSID
                push(self.r.load_storage(self.pop()))
            elif op in (b"h", b"j"):  # BINGET, LONG_BINGET
                key = self.num("<B" if op == b"h" else "<I")
                if key not in self.memo:
                    raise self.r.bad(f"memo entry {key} read before it was written")
                push(self.memo[key])
            elif op in (b"q", b"r"):  # BINPUT, LONG_BINPUT
                self.memo[self.num("<B" if op == b"q" else "<I")] = self.top()
            elif op == b"\x94":  # MEMOIZE
                self.memo[len(self.memo)] = self.top()
            else:
                raise self.r.bad(f"unsupported pickle opcode {op!r} at byte {self.pos - 1} "
                                 f"(protocols 2-5 are read)")

    def find(self, module: str, name: str) -> Any:
        # NOTE: pickle's fix_imports: protocols 0-2 write Python 2 names (__builtin__.set).
        if self.protocol < 3:
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            else:
                module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        return self.r.find(module, name)

    def line(self) -> str:
        end = self.data.find(b"\n", self.pos)
        if end < 0:
            raise self.r.bad("GLOBAL without a newline")
        try:
            text = self.data[self.pos:end].decode("utf-8")
        except UnicodeDecodeError as e:
            raise self.r.bad(f"GLOBAL is not UTF-8 ({e})") from None
        self.pos = end + 1
        return text
