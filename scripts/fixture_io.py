"""Writes golden fixtures for voxflow's op tests (used by the scripts/fixtures_*.py generators).

Format (read by src/ops/testing.rs `load_fixture`): a text file, one tensor per line:
    name<TAB>dim0,dim1,...<TAB>v0 v1 v2 ...
values printed with 9 significant digits (exact for f32). Lines starting with '#' are comments.
Generators run with Debian's CPU PyTorch (`apt-get install python3-torch`, then /usr/bin/python3);
CI never runs them.
"""
import os

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")


def save(name, comment, **tensors):
    """Writes tests/fixtures/<name>.txt holding each tensor (torch or numpy) as float32."""
    os.makedirs(FIXTURES, exist_ok=True)
    path = os.path.join(FIXTURES, name + ".txt")
    with open(path, "w") as f:
        for line in comment.strip().splitlines():
            f.write("# " + line + "\n")
        for key, t in tensors.items():
            t = t.detach().cpu().float().numpy() if hasattr(t, "detach") else t.astype("float32")
            dims = ",".join(str(d) for d in t.shape)
            vals = " ".join("%.9g" % v for v in t.reshape(-1))
            f.write(f"{key}\t{dims}\t{vals}\n")
    print("wrote", path)
