"""The CLI: scry add / search / jobs / --help, on a real data folder."""
import os
import shutil
import subprocess

from conftest import DARKNET, SCRY, Server


def run(*args, data=None, check=True):
    cmd = [SCRY] + list(args) + (["--data", data] if data else [])
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if check:
        assert p.returncode == 0, (cmd, p.returncode, p.stdout, p.stderr)
    return p


def test_help():
    out = run("--help").stdout
    for cmd in ("serve", "add", "search", "jobs"):
        assert cmd in out
        h = run(cmd, "--help").stdout
        assert "usage: scry " + cmd in h and "--data" in h and "SCRY_DATA" in h
    p = run("frobnicate", check=False)
    assert p.returncode == 2 and "unknown command" in p.stderr
    p = run("serve", "--port", "notaport", check=False)
    assert p.returncode == 2 and "--port" in p.stderr


def test_add_folder_search_and_jobs(tmpdir_path):
    src = os.path.join(tmpdir_path, "photos")
    os.makedirs(os.path.join(src, "sub"))
    for name in ("dog.jpg", "horses.jpg"):
        shutil.copy(os.path.join(DARKNET, name), os.path.join(src, name))
    shutil.copy(os.path.join(DARKNET, "giraffe.jpg"), os.path.join(src, "sub", "tall-giraffe.jpg"))
    with open(os.path.join(src, "README.txt"), "w") as f:
        f.write("not an image")
    data = os.path.join(tmpdir_path, "data")
    p = run("add", src, data=data)
    assert "3 images, 3 indexed, 0 failed, 1 non-images skipped" in p.stdout, p.stdout
    job_id = p.stdout.split()[1]

    p = run("search", "giraffe", data=data)
    assert "tall-giraffe.jpg" in p.stdout and "dog.jpg" not in p.stdout
    p = run("search", "giraffe", "--json", data=data)
    assert '"filename": "tall-giraffe.jpg"' in p.stdout

    p = run("jobs", data=data)
    assert job_id in p.stdout and "completed" in p.stdout
    p = run("jobs", job_id, data=data)
    assert "completed, 3/3 done, 0 failed" in p.stdout

    # The server sees what the CLI indexed.
    s = Server(data, ["--workers", "1"]).start()
    try:
        res = s.get("/v1/search?q=giraffe").json()["results"]
        assert [r["filename"] for r in res] == ["tall-giraffe.jpg"]
    finally:
        s.stop()


def test_add_reports_corrupt_files(tmpdir_path):
    path = os.path.join(tmpdir_path, "broken.jpg")
    with open(os.path.join(DARKNET, "dog.jpg"), "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:5000])
    p = run("add", path, data=os.path.join(tmpdir_path, "data"), check=False)
    assert p.returncode == 1
    assert "1 images, 0 indexed, 1 failed" in p.stdout and "broken.jpg" in p.stdout and "decode" in p.stdout


def test_missing_model_stops_startup_with_the_fix(tmpdir_path):
    empty = os.path.join(tmpdir_path, "no-models")
    os.makedirs(empty)
    p = subprocess.run([SCRY, "serve", "--data", os.path.join(tmpdir_path, "data"), "--port", "0",
                        "--models", empty], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert empty in p.stderr and "centernet.onnx" in p.stderr and "./scripts/setup.sh" in p.stderr
    # Corrupt model file: named too.
    with open(os.path.join(empty, "centernet.onnx"), "wb") as f:
        f.write(b"not a model")
    p = subprocess.run([SCRY, "serve", "--data", os.path.join(tmpdir_path, "data"), "--port", "0",
                        "--models", empty], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "centernet.onnx" in p.stderr and "./scripts/setup.sh" in p.stderr
