#!/usr/bin/env python3
"""hack/mkimage.py: write a single-layer container image as a docker-archive tar (the
`docker save` format) from files on this machine, without Docker or a registry;
`ctr -n k8s.io images import OUT.tar` (hack/cluster.sh ctr) loads it into the test node.
Reproducible: the same inputs give the same tar (fixed times, files in argument order).

usage: mkimage.py OUT.tar REF --file SRC:DST[:MODE] ... [--link DST:TARGET ...] [--dir DST[:MODE] ...]
                  [--entrypoint JSON] [--cmd JSON] [--env K=V ...] [--user U] [--workdir D]
"""
import argparse, hashlib, io, json, os, tarfile

p = argparse.ArgumentParser()
p.add_argument("out"); p.add_argument("ref")
p.add_argument("--file", action="append", default=[])
p.add_argument("--link", action="append", default=[])
p.add_argument("--dir", action="append", default=[])
p.add_argument("--text", action="append", default=[], help="DST=CONTENT (a small text file)")
p.add_argument("--entrypoint"); p.add_argument("--cmd")
p.add_argument("--env", action="append", default=["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
p.add_argument("--user", default=""); p.add_argument("--workdir", default="/")
a = p.parse_args()

MTIME = 0  # reproducible layers
layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as t:
    made = set()
    def mkdirs(path, mode=0o755):
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d and d not in made:
                ti = tarfile.TarInfo(d); ti.type = tarfile.DIRTYPE; ti.mode = mode; ti.mtime = MTIME
                t.addfile(ti); made.add(d)
    for spec in a.dir:
        d, _, mode = spec.partition(":")
        mkdirs(os.path.dirname(d.strip("/")))
        ti = tarfile.TarInfo(d.strip("/")); ti.type = tarfile.DIRTYPE
        ti.mode = int(mode, 8) if mode else 0o755; ti.mtime = MTIME
        t.addfile(ti); made.add(d.strip("/"))
    for spec in a.file:
        src, dst, *mode = spec.split(":")
        mkdirs(os.path.dirname(dst.strip("/")))
        data = open(src, "rb").read()
        ti = tarfile.TarInfo(dst.strip("/")); ti.size = len(data); ti.mtime = MTIME
        ti.mode = int(mode[0], 8) if mode else (os.stat(src).st_mode & 0o7777)
        t.addfile(ti, io.BytesIO(data))
    for spec in a.text:
        dst, _, content = spec.partition("=")
        mkdirs(os.path.dirname(dst.strip("/")))
        data = content.encode().decode("unicode_escape").encode()
        ti = tarfile.TarInfo(dst.strip("/")); ti.size = len(data); ti.mode = 0o644; ti.mtime = MTIME
        t.addfile(ti, io.BytesIO(data))
    for spec in a.link:
        dst, target = spec.split(":", 1)
        mkdirs(os.path.dirname(dst.strip("/")))
        ti = tarfile.TarInfo(dst.strip("/")); ti.type = tarfile.SYMTYPE; ti.linkname = target
        ti.mode = 0o777; ti.mtime = MTIME
        t.addfile(ti)
layer_bytes = layer.getvalue()
diff_id = hashlib.sha256(layer_bytes).hexdigest()

cfg = {"architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
       "config": {"Env": a.env, "WorkingDir": a.workdir, "User": a.user},
       "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff_id]},
       "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "mkimage.py"}]}
if a.entrypoint: cfg["config"]["Entrypoint"] = json.loads(a.entrypoint)
if a.cmd: cfg["config"]["Cmd"] = json.loads(a.cmd)
cfg_bytes = json.dumps(cfg, sort_keys=True).encode()
cfg_id = hashlib.sha256(cfg_bytes).hexdigest()

manifest = [{"Config": cfg_id + ".json", "RepoTags": [a.ref], "Layers": [diff_id + "/layer.tar"]}]
with tarfile.open(a.out, "w") as out:
    def add(name, data, mode=0o644):
        ti = tarfile.TarInfo(name); ti.size = len(data); ti.mode = mode; ti.mtime = MTIME
        out.addfile(ti, io.BytesIO(data))
    d = tarfile.TarInfo(diff_id); d.type = tarfile.DIRTYPE; d.mode = 0o755; out.addfile(d)
    add(diff_id + "/VERSION", b"1.0")
    add(diff_id + "/layer.tar", layer_bytes)
    add(cfg_id + ".json", cfg_bytes)
    add("manifest.json", json.dumps(manifest).encode())
    add("repositories", json.dumps({a.ref.rsplit(":", 1)[0]: {a.ref.rsplit(":", 1)[1]: diff_id}}).encode())
print(f"{a.out}: {a.ref} layer sha256:{diff_id[:12]} ({len(layer_bytes)} bytes) config sha256:{cfg_id[:12]}")
