"""The CLI: scry add / search / jobs / --help, on a real data folder."""
import json
import os
import shutil
import subprocess

from conftest import embedded_only, DARKNET, SCRY, Server

# The embedded backend's own files and the CLI on a data folder.
pytestmark = embedded_only


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


def test_add_is_quiet_by_default_and_verbose_with_v(tmpdir_path):
    src = os.path.join(tmpdir_path, "photos")
    os.makedirs(src)
    shutil.copy(os.path.join(DARKNET, "dog.jpg"), src)
    p = run("add", src, data=os.path.join(tmpdir_path, "data"))
    assert "level=" not in p.stderr, p.stderr          # no log lines over the progress
    assert "1 images, 1 indexed" in p.stdout
    p = run("add", "-v", src, data=os.path.join(tmpdir_path, "data"))
    assert "level=info event=model.loaded" in p.stderr, p.stderr
    p = run("search", "dog", "--log-level", "info", data=os.path.join(tmpdir_path, "data"))
    assert "level=info" in p.stderr and "dog.jpg" in p.stdout
    p = run("jobs", data=os.path.join(tmpdir_path, "data"))
    assert "level=" not in p.stderr, p.stderr


def test_add_never_indexes_the_data_folder_nor_hidden_folders(tmpdir_path):
    """`scry add DIR --data DIR/data` used to index the data folder's own
    blobs and thumbnails, which then showed up twice in search results."""
    src = os.path.join(tmpdir_path, "photos")
    os.makedirs(os.path.join(src, ".cache"))
    os.makedirs(os.path.join(src, "trip"))
    shutil.copy(os.path.join(DARKNET, "dog.jpg"), src)
    shutil.copy(os.path.join(DARKNET, "horses.jpg"), os.path.join(src, "trip"))
    shutil.copy(os.path.join(DARKNET, "kite.jpg"), os.path.join(src, ".cache", "kite.jpg"))
    shutil.copy(os.path.join(DARKNET, "eagle.jpg"), os.path.join(src, ".hidden-eagle.jpg"))
    data = os.path.join(src, "data")
    p = run("add", src, data=data)
    assert "2 images, 2 indexed" in p.stdout, p.stdout
    # Again: the data folder now holds originals and thumbnails; none is added.
    p = run("add", src, data=data)
    assert "2 images, 2 indexed" in p.stdout, (p.stdout, p.stderr)
    assert "not indexing %s: it is a Scry data folder" % data in p.stderr
    assert "hidden files and folders not walked" in p.stderr
    names = sorted(r["filename"] for r in json.loads(run("search", "dog", "--json", "--no-floor",
                                                                       "--limit", "50", data=data).stdout)["results"])
    assert "kite.jpg" not in names and ".hidden-eagle.jpg" not in names
    # Another Scry data folder met on the way is skipped too, and so is a
    # path inside our own.
    other = os.path.join(tmpdir_path, "other")
    shutil.copytree(data, os.path.join(other, "old-data"))
    shutil.copy(os.path.join(DARKNET, "giraffe.jpg"), other)
    p = run("add", other, data=data)
    assert "1 images, 1 indexed" in p.stdout and "it is a Scry data folder" in p.stderr, (p.stdout, p.stderr)
    p = run("add", os.path.join(data, "blobs"), data=data, check=False)
    assert "it is inside the data folder" in p.stderr and "no images found" in p.stderr, p.stderr
    # --hidden walks them.
    p = run("add", src, "--hidden", data=os.path.join(tmpdir_path, "data3"))
    assert "4 images, 4 indexed" in p.stdout, p.stdout


def test_search_refuses_an_unterminated_quote(tmpdir_path):
    p = run("search", 'sign saying "open', data=os.path.join(tmpdir_path, "data"), check=False)
    assert p.returncode == 2 and "unterminated quote" in p.stderr, (p.returncode, p.stderr)


def test_help_says_where_data_files_are_found():
    out = run("serve", "--help").stdout
    exe_dir = os.path.dirname(os.path.realpath(SCRY))
    assert "looked up" in out and exe_dir in out and "SCRY_HOME" in out and "--web" in out
