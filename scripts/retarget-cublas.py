#!/usr/bin/env python3
"""Retargets a shared library built against one soname to another of the same length.

JCublas 12.6.0's native library (libJCublas2-12.6.0-linux-x86_64.so) was linked against cuBLAS 12: it
names `libcublas.so.12` as a needed library AND requires the symbol-version tag `libcublas.so.12` for
every cuBLAS function it imports. cuBLAS 13 exports the same functions under the tag `libcublas.so.13`.
Replacing the needed name alone (patchelf --replace-needed, or a symlink) is not enough: the dynamic
loader then finds cuBLAS 13 but refuses it, because the version-need entry still asks for
`libcublas.so.12`. So this script changes both, in place, without moving any byte:

  1. the NUL-terminated name in the dynamic string table (.dynstr), which the DT_NEEDED entry, the
     version-need file name (vn_file) and the version name (vna_name) all point into; the new name has
     the same length, so every offset into the table stays valid;
  2. the vna_hash of each version-need entry that now names the new tag: the loader compares that hash
     (the classic ELF hash of the name) before it compares names, so a stale hash would not match.

Only the standard library is used. ELF64 little-endian only (x86-64, aarch64), which is all JCuda ships.

Usage: retarget-cublas.py IN [OUT] [--from libcublas.so.12] [--to libcublas.so.13]
       (OUT defaults to IN: the file is patched in place). Exit status 0 also when IN was already retargeted.
"""
import argparse
import struct
import sys

PT_LOAD, PT_DYNAMIC = 1, 2
DT_NULL, DT_NEEDED, DT_STRTAB, DT_STRSZ = 0, 1, 5, 10
DT_VERNEED, DT_VERNEEDNUM = 0x6FFFFFFE, 0x6FFFFFFF


def elf_hash(name: bytes) -> int:
    """The System V ELF hash (what vna_hash holds), as the gABI defines it."""
    h = 0
    for c in name:
        h = ((h << 4) + c) & 0xFFFFFFFF
        g = h & 0xF0000000
        if g:
            h ^= g >> 24
        h &= ~g & 0xFFFFFFFF
    return h


class Elf:
    """The parts of an ELF64 LE shared object that dynamic linking reads: its dynamic string table,
    needed libraries and version needs, located through the program headers (as the loader does)."""

    def __init__(self, data: bytearray):
        self.data = data
        if data[:4] != b"\x7fELF":
            raise SystemExit("not an ELF file")
        if data[4] != 2 or data[5] != 1:
            raise SystemExit("only 64-bit little-endian ELF files are supported")
        phoff, = struct.unpack_from("<Q", data, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
        self.loads, dynamic = [], None
        for i in range(phnum):
            p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz, _memsz, _align = \
                struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize)
            if p_type == PT_LOAD:
                self.loads.append((p_vaddr, p_offset, p_filesz))
            elif p_type == PT_DYNAMIC:
                dynamic = (p_offset, p_filesz)
        if dynamic is None:
            raise SystemExit("no dynamic segment: not a shared library")
        self.dyn = []  # (tag, value, file offset of the entry)
        off, end = dynamic[0], dynamic[0] + dynamic[1]
        while off + 16 <= end:
            tag, val = struct.unpack_from("<qQ", data, off)
            if tag == DT_NULL:
                break
            self.dyn.append((tag, val, off))
            off += 16
        tags = {t: v for t, v, _ in self.dyn}
        if DT_STRTAB not in tags:
            raise SystemExit("no dynamic string table (DT_STRTAB)")
        self.strtab = self.file_offset(tags[DT_STRTAB])
        self.strsz = tags.get(DT_STRSZ, len(data) - self.strtab)
        self.verneed = self.file_offset(tags[DT_VERNEED]) if DT_VERNEED in tags else None
        self.verneednum = tags.get(DT_VERNEEDNUM, 0)

    def file_offset(self, vaddr: int) -> int:
        """Where a virtual address of a loaded segment lies in the file."""
        for seg_vaddr, seg_offset, seg_filesz in self.loads:
            if seg_vaddr <= vaddr < seg_vaddr + seg_filesz:
                return vaddr - seg_vaddr + seg_offset
        raise SystemExit(f"address {vaddr:#x} is in no loaded segment")

    def string(self, index: int) -> bytes:
        start = self.strtab + index
        return bytes(self.data[start:self.data.index(b"\0", start)])

    def needed(self):
        """Indices (into the string table) of the DT_NEEDED names."""
        return [v for t, v, _ in self.dyn if t == DT_NEEDED]

    def version_needs(self):
        """Each version-need file with its entries: (vn_file, [(file offset of the Vernaux, vna_hash, vna_name)])."""
        out, off = [], self.verneed
        for _ in range(self.verneednum if off is not None else 0):
            _version, cnt, vn_file, vn_aux, vn_next = struct.unpack_from("<HHIII", self.data, off)
            entries, aux = [], off + vn_aux
            for _ in range(cnt):
                vna_hash, _flags, _other, vna_name, vna_next = struct.unpack_from("<IHHII", self.data, aux)
                entries.append((aux, vna_hash, vna_name))
                if vna_next == 0:
                    break
                aux += vna_next
            out.append((vn_file, entries))
            if vn_next == 0:
                break
            off += vn_next
        return out


def describe(elf: Elf) -> str:
    lines = ["NEEDED: " + ", ".join(elf.string(i).decode() for i in elf.needed())]
    for vn_file, entries in elf.version_needs():
        names = ", ".join(f"{elf.string(n).decode()} (hash {h:#010x}{'' if h == elf_hash(elf.string(n)) else ' WRONG'})"
                          for _, h, n in entries)
        lines.append(f"version need: {elf.string(vn_file).decode()}: {names}")
    return "\n".join(lines)


def retarget(elf: Elf, old: bytes, new: bytes) -> list:
    """Rewrites `old` to `new` wherever the dynamic section or the version needs name it; returns what changed."""
    if len(old) != len(new):
        raise SystemExit(f"'{old.decode()}' and '{new.decode()}' differ in length: offsets into .dynstr would move")
    changes = []
    # Every string-table index that names `old`: the needed library, the version-need file, the version tag.
    indices = {i for i in elf.needed() if elf.string(i) == old}
    for vn_file, entries in elf.version_needs():
        if elf.string(vn_file) == old:
            indices.add(vn_file)
        indices.update(n for _, _, n in entries if elf.string(n) == old)
    for i in sorted(indices):
        at = elf.strtab + i
        # A linker may share a string's tail with a longer one ("xlibcublas.so.12"): rewriting it there would
        # rename that string too. Only a string that starts at its own index is safe to rewrite.
        if i > 0 and elf.data[at - 1] != 0:
            raise SystemExit(f"'{old.decode()}' at .dynstr+{i} is the tail of a longer string; refusing to rewrite it")
        elf.data[at:at + len(old)] = new
        changes.append(f".dynstr+{i:#x}: {old.decode()} -> {new.decode()}")
    # The loader checks vna_hash against the hash of the tag it looks for, so each renamed tag needs its new hash.
    for _, entries in elf.version_needs():
        for aux, vna_hash, vna_name in entries:
            if elf.string(vna_name) == new and vna_hash != elf_hash(new):
                struct.pack_into("<I", elf.data, aux, elf_hash(new))
                changes.append(f"vna_hash at {aux:#x}: {vna_hash:#010x} -> {elf_hash(new):#010x}")
    return changes


def main():
    p = argparse.ArgumentParser(description="Retarget a shared library's needed soname and its symbol-version tag (same length).")
    p.add_argument("input")
    p.add_argument("output", nargs="?")
    p.add_argument("--from", dest="old", default="libcublas.so.12")
    p.add_argument("--to", dest="new", default="libcublas.so.13")
    a = p.parse_args()
    old, new = a.old.encode(), a.new.encode()
    with open(a.input, "rb") as f:
        elf = Elf(bytearray(f.read()))
    changes = retarget(elf, old, new)
    needed = [elf.string(i) for i in elf.needed()]
    if not changes and new not in needed:
        raise SystemExit(f"{a.input} needs neither {a.old} nor {a.new}: nothing to retarget")
    with open(a.output or a.input, "wb") as f:
        f.write(elf.data)
    # Read back what was written, so the report shows the file as the loader will see it.
    with open(a.output or a.input, "rb") as f:
        check = Elf(bytearray(f.read()))
    print("\n".join(changes) if changes else f"already retargeted to {a.new}")
    print(describe(check))
    tags = [check.string(n) for _, entries in check.version_needs() for _, _, n in entries]
    if old in [check.string(i) for i in check.needed()] or old in tags:
        raise SystemExit(f"{a.old} is still named after the rewrite")


if __name__ == "__main__":
    main()
