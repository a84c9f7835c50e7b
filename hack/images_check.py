#!/usr/bin/env python3
"""hack/images_check.py: checks the image archives hack/images.sh built against
docker/Dockerfile, read independently of images.sh: for each target, the image's
Entrypoint and User are the Dockerfile's, the binary is at the path the Dockerfile
copies it to, every shared library the binary needs (its ELF interpreter and DT_NEEDED
entries, resolved by ldd) is in the image, and so are the CA certificates and a
passwd entry for the user. Exits non-zero with one line per disagreement.

usage: images_check.py IMAGES_DIR [DOCKERFILE]
"""
import json, re, subprocess, sys, tarfile, io, os

images_dir = sys.argv[1]
dockerfile = sys.argv[2] if len(sys.argv) > 2 else "docker/Dockerfile"

# Dockerfile: FROM ... AS target -> {copy: (src, dst), user, entrypoint}
targets, current = {}, None
for line in open(dockerfile):
    line = line.strip()
    m = re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, re.I)
    if m:
        current = targets.setdefault(m.group(1), {})
        continue
    if current is None:
        continue
    if line.startswith("COPY --from=build"):
        src, dst = line.split()[-2:]
        current["copy"] = (src, dst)
    elif line.startswith("USER "):
        current["user"] = line.split()[1]
    elif line.startswith("ENTRYPOINT "):
        current["entrypoint"] = json.loads(line[len("ENTRYPOINT "):])

problems = []
for name in ("operator", "api-shim", "resizer"):
    t = targets.get(name)
    path = os.path.join(images_dir, f"{name}.tar")
    if not t or "copy" not in t:
        problems.append(f"{name}: docker/Dockerfile has no target with a COPY --from=build")
        continue
    if not os.path.exists(path):
        problems.append(f"{name}: {path} is missing (hack/images.sh build)")
        continue
    with tarfile.open(path) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))[0]
        config = json.load(outer.extractfile(manifest["Config"]))["config"]
        files, binary = {}, None
        for layer in manifest["Layers"]:
            with tarfile.open(fileobj=io.BytesIO(outer.extractfile(layer).read())) as inner:
                for member in inner.getmembers():
                    files["/" + member.name] = member
                    if "/" + member.name == t["copy"][1]:
                        binary = inner.extractfile(member).read()
                passwd = inner.extractfile("etc/passwd").read().decode() if "etc/passwd" in inner.getnames() else ""
    if config.get("Entrypoint") != t.get("entrypoint"):
        problems.append(f"{name}: Entrypoint {config.get('Entrypoint')} != Dockerfile {t.get('entrypoint')}")
    if config.get("User") != t.get("user"):
        problems.append(f"{name}: User {config.get('User')!r} != Dockerfile {t.get('user')!r}")
    if binary is None:
        problems.append(f"{name}: no {t['copy'][1]} in the image")
        continue
    if not (files[t["copy"][1]].mode & 0o111):
        problems.append(f"{name}: {t['copy'][1]} is not executable")
    uid = t.get("user", "").split(":")[0]
    if not any(l.split(":")[2:3] == [uid] for l in passwd.splitlines()):
        problems.append(f"{name}: no /etc/passwd entry for uid {uid}")
    if "/etc/ssl/certs/ca-certificates.crt" not in files:
        problems.append(f"{name}: no CA certificates")
    # The libraries the binary needs, as the dynamic loader resolves them on this machine.
    tmp = os.path.join(images_dir, f".{name}.bin")
    with open(tmp, "wb") as f:
        f.write(binary)
    ldd = subprocess.run(["ldd", tmp], capture_output=True, text=True).stdout
    os.remove(tmp)
    for lib in re.findall(r"=> (/\S+)|^\s*(/lib64/\S+)", ldd, re.M):
        lib = lib[0] or lib[1]
        if lib not in files:
            problems.append(f"{name}: needs {lib}, which the image lacks")
    print(f"{name}: {t['copy'][1]}, user {config.get('User')}, entrypoint {config.get('Entrypoint')}, "
          f"{len(files)} entries: agrees with {dockerfile}")

for p in problems:
    print("images_check: " + p, file=sys.stderr)
sys.exit(1 if problems else 0)
