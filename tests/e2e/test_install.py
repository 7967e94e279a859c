"""`make install PREFIX=... DESTDIR=...`, then the installed binary run from
another working directory, as a new user would: it must find its models,
word vectors and web app (core/paths.h) with no flag and no ./deps."""
import os
import shutil
import subprocess

from conftest import embedded_only, DARKNET, REPO, SCRY, Server, read

# The embedded backend's own files and the CLI on a data folder.
pytestmark = embedded_only


def make_install(destdir, prefix):
    build = os.path.basename(os.path.dirname(SCRY))
    args = ["make", "-C", REPO, "-s", "install", "PREFIX=" + prefix, "DESTDIR=" + destdir]
    if build == "build-asan":
        args.append("SAN=1")
    p = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    return os.path.join(destdir + prefix)


def test_install_then_run_from_elsewhere(tmpdir_path):
    root = make_install(os.path.join(tmpdir_path, "stage"), "/opt/scry-test")
    scry = os.path.join(root, "bin", "scry")
    share = os.path.join(root, "share", "scry")
    assert os.access(scry, os.X_OK)
    for rel in ("models/centernet.onnx", "models/emotion.onnx", "wordvec/wordvec.bin", "web/index.html",
                "web/js/main.js", "web/vendor/preact.mjs"):
        assert os.path.isfile(os.path.join(share, rel)), rel
    assert not any(n.startswith(".") for _, _, files in os.walk(share) for n in files)
    libs = os.listdir(os.path.join(root, "lib", "scry"))
    assert "libonnxruntime.so.1" in libs, libs

    # Moved as a whole (DESTDIR staging is exactly that): still finds its files.
    moved = os.path.join(tmpdir_path, "moved")
    shutil.move(root, moved)
    scry = os.path.join(moved, "bin", "scry")
    elsewhere = os.path.join(tmpdir_path, "somewhere", "else")
    os.makedirs(elsewhere)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRY_")}

    h = subprocess.run([scry, "serve", "--help"], capture_output=True, text=True, cwd=elsewhere, env=env, timeout=60)
    assert h.returncode == 0 and os.path.join(moved, "share", "scry") in h.stdout, h.stdout

    # `scry serve` alone, from another folder: the app, the models, the vectors.
    s = Server(os.path.join(elsewhere, "data"), ["--workers", "1"], env=env, replace_env=True, binary=scry,
               cwd=elsewhere).start(timeout=60)
    try:
        page = s.get("/")
        assert page.status == 200 and b'type="importmap"' in page.body
        assert b"{{version}}" not in page.body
        r = s.upload([("dog.jpg", read(os.path.join(DARKNET, "dog.jpg")))])
        assert r.status == 202, r.body
        job = s.wait_job(r.json()["job_id"])
        assert job["status"] == "completed" and job["done"] == 1, job
        img = s.get("/v1/images/" + r.json()["images"][0]["id"]).json()
        assert "dog" in [t["label"] for t in img["tags"]], img["tags"]   # the object model was found
        res = s.get("/v1/search?q=a+puppy").json()["results"]
        assert res and res[0]["filename"] == "dog.jpg", res
        # the word vectors too: the sentence vectors rank alone in mode=vector
        res = s.get("/v1/search?q=a+puppy&mode=vector").json()["results"]
        assert res and res[0]["filename"] == "dog.jpg" and "similar" in res[0]["why"], res
        log = s.tail(20000)
        assert os.path.join(moved, "share", "scry", "models") in log, log
        assert "encoder.unavailable" not in log and "web.unavailable" not in log, log
    finally:
        s.stop()

    # `scry add` from there too, quietly.
    photos = os.path.join(elsewhere, "photos")
    os.makedirs(photos)
    shutil.copy(os.path.join(DARKNET, "horses.jpg"), photos)
    p = subprocess.run([scry, "add", photos, "--data", os.path.join(elsewhere, "data2")], capture_output=True,
                       text=True, cwd=elsewhere, env=env, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "1 images, 1 indexed, 0 failed" in p.stdout, p.stdout
    assert "level=info" not in p.stderr, p.stderr
