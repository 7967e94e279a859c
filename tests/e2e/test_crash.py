"""Durability: a server killed with SIGKILL mid-job loses no upload and no
job; on restart the job resumes and completes. An image that crashes the
process in a stage is retried a bounded number of times, then failed."""
import glob
import hashlib
import os
import time

from conftest import BACKEND, DARKNET, SHARED, Server, read


def test_sigkill_mid_job_then_resume(tmpdir_path):
    data_dir = os.path.join(tmpdir_path, "data")
    s = Server(data_dir, ["--workers", "1"]).start()
    photos = sorted(glob.glob(os.path.join(SHARED, "data", "coco", "images", "*.jpg")))[:40]
    assert len(photos) == 40
    files = [(os.path.basename(p), read(p)) for p in photos]
    r = s.upload(files)
    assert r.status == 202, r.body
    doc = r.json()
    job_id = doc["job_id"]
    # Kill while the job is running: some images done, others not.
    deadline = time.time() + 60
    while time.time() < deadline:
        job = s.get("/v1/jobs/" + job_id).json()
        if job["status"] == "running" and 0 < job["done"] < job["total"]:
            break
        time.sleep(0.02)
    else:
        raise AssertionError("job never observed running mid-way: %s" % job)
    s.kill()

    s.start()
    try:
        job = s.get("/v1/jobs/" + job_id).json()
        assert job["total"] == 40
        assert job["status"] in ("pending", "running", "completed")
        # Every upload is there byte for byte.
        for img, (name, data) in zip(doc["images"], files):
            r = s.get("/v1/images/%s/content" % img["id"])
            assert r.status == 200 and hashlib.sha256(r.body).hexdigest() == hashlib.sha256(data).hexdigest(), name
        job = s.wait_job(job_id)
        assert (job["status"], job["done"], job["failed"]) == ("completed", 40, 0), job
        ready = [s.get("/v1/images/" + i["id"]).json()["status"] for i in doc["images"]]
        assert ready == ["ready"] * 40
    finally:
        s.stop()


def test_crashing_image_is_failed_after_bounded_attempts(tmpdir_path):
    data_dir = os.path.join(tmpdir_path, "data")
    env = {"SCRY_FAULT_CRASH": "decode:crashme"}
    s = Server(data_dir, ["--workers", "1", "--max-attempts", "2"], env=env).start()
    r = s.upload([("ok.jpg", read(os.path.join(DARKNET, "dog.jpg"))),
                  ("crashme.jpg", read(os.path.join(DARKNET, "horses.jpg")))])
    job_id = r.json()["job_id"]
    crashes = 0
    # Each time its worker reaches crashme.jpg the process dies; restart it
    # (without waiting for health: it may die again first) until it stays up
    # and the job completes.
    deadline = time.time() + 120
    while time.time() < deadline:
        if s.proc.poll() is not None:
            crashes += 1
            assert crashes <= 4, "restarted too many times: " + s.tail()
            s.log.close()
            s.start_process()
            continue
        try:
            if s.get("/v1/jobs/" + job_id, timeout=5).json()["status"] == "completed":
                break
        except OSError:
            pass
        time.sleep(0.05)
    try:
        job = s.wait_job(job_id)
        assert crashes == 2, crashes
        assert (job["status"], job["done"], job["failed"]) == ("completed", 1, 1), job
        err = job["errors"][0]
        assert err["filename"] == "crashme.jpg" and err["stage"] == "decode"
        # PostgreSQL cannot tell a crash from a lost worker: its lease ran out
        said = "crashed" if BACKEND == "embedded" else "lost its worker"
        assert said in err["message"] and "2 attempts" in err["message"], err
    finally:
        s.stop()


def test_failing_optional_stage_is_reported_and_the_rest_goes_on(tmpdir_path):
    s = Server(os.path.join(tmpdir_path, "data"), ["--workers", "1"],
               env={"SCRY_FAULT_FAIL": "colors:flaky"}).start()
    try:
        r = s.upload([("flaky.jpg", read(os.path.join(DARKNET, "dog.jpg"))),
                      ("fine.jpg", read(os.path.join(DARKNET, "horses.jpg")))]).json()
        job = s.wait_job(r["job_id"])
        assert (job["status"], job["done"], job["failed"]) == ("completed", 2, 0), job
        assert [(e["filename"], e["stage"]) for e in job["errors"]] == [("flaky.jpg", "colors")]
        assert "injected failure" in job["errors"][0]["message"]
        flaky = s.get("/v1/images/" + r["images"][0]["id"]).json()
        assert flaky["status"] == "ready" and flaky["colors"] == []
        assert flaky["width"] == 768 and len(flaky["phash"]) == 16      # later stages ran
        assert s.get("/v1/images/%s/thumbnail" % flaky["id"]).status == 200
        fine = s.get("/v1/images/" + r["images"][1]["id"]).json()
        assert fine["colors"]
    finally:
        s.stop()
