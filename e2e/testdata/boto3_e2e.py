"""boto3 against a running berth: repositories, the layer-upload API, images,
pagination and error codes. Exits non-zero on the first mismatch.

    BERTH_ENDPOINT=http://127.0.0.1:4566 \
    AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \
    python3 e2e/testdata/boto3_e2e.py
"""

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

import boto3
import botocore.exceptions

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

ENDPOINT = os.environ["BERTH_ENDPOINT"]
REPO = os.environ.get("BERTH_BOTO3_REPO", "e2e/boto3-app")

ecr = boto3.client("ecr", endpoint_url=ENDPOINT)
checks = 0


class Mismatch(Exception):
    pass


def expect(got, want, what):
    global checks
    checks += 1
    if got != want:
        raise Mismatch(f"{what}: got {got!r}, want {want!r}")


def expect_error(code, what, fn, **kwargs):
    """Calls fn(**kwargs), which must fail with the ECR error code."""
    global checks
    checks += 1
    try:
        out = fn(**kwargs)
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        if got != code:
            raise Mismatch(f"{what}: error code {got!r}, want {code!r} ({e})")
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        if status != 400:
            raise Mismatch(f"{what}: HTTP status {status}, want 400")
        return e
    out.pop("ResponseMetadata", None)
    raise Mismatch(f"{what}: succeeded with {out!r}, want {code}")


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


# Every layer part but the last must be at least 5 MiB (LayerPartTooSmallException).
MIN_PART = 5 << 20


def make_layer():
    """A reproducible gzipped tar with one file, large enough (> 5 MiB
    compressed) to go up in two parts."""
    content = b"".join(b"line %d of the berth boto3 e2e layer\n" % i for i in range(300))
    content += hashlib.shake_256(b"berth boto3 e2e").digest(MIN_PART)  # incompressible
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("etc/berth.txt")
        info.size, info.mtime, info.mode = len(content), 0, 0o644
        tar.addfile(info, io.BytesIO(content))
    diff_id = sha256(raw.getvalue())
    return gzip.compress(raw.getvalue(), mtime=0), diff_id


def upload_blob(data, part_size):
    """Uploads data through the layer-upload API in parts of part_size bytes."""
    up = ecr.initiate_layer_upload(repositoryName=REPO)
    upload_id = up["uploadId"]
    expect(bool(upload_id), True, "initiate_layer_upload uploadId")
    expect(up["partSize"] > 0, True, "initiate_layer_upload partSize")
    parts = 0
    for first in range(0, len(data), part_size):
        chunk = data[first:first + part_size]
        last = first + len(chunk) - 1
        out = ecr.upload_layer_part(repositoryName=REPO, uploadId=upload_id, partFirstByte=first,
                                    partLastByte=last, layerPartBlob=chunk)
        expect((out["uploadId"], out["lastByteReceived"], out["repositoryName"]), (upload_id, last, REPO),
               f"upload_layer_part {parts}")
        parts += 1
    digest = sha256(data)
    out = ecr.complete_layer_upload(repositoryName=REPO, uploadId=upload_id, layerDigests=[digest])
    expect((out["layerDigest"], out["uploadId"]), (digest, upload_id), "complete_layer_upload")
    return digest, parts


def manifest_for(config_digest, config_size, layer_digest, layer_size, annotations=None):
    m = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": layer_size}],
    }
    if annotations:
        m["annotations"] = annotations
    return json.dumps(m, separators=(",", ":"))


def main():
    # ---- repositories -----------------------------------------------------
    repo = ecr.create_repository(repositoryName=REPO)["repository"]
    expect(repo["repositoryName"], REPO, "create_repository name")
    account = repo["registryId"]
    expect(len(account) == 12 and account.isdigit(), True, "registryId is 12 digits")
    expect(repo["repositoryArn"], f"arn:aws:ecr:{ecr.meta.region_name}:{account}:repository/{REPO}",
           "create_repository arn")

    expect_error("RepositoryAlreadyExistsException", "create_repository twice",
                 ecr.create_repository, repositoryName=REPO)
    for bad in ("Bad_Name", "has space", "-leading-dash", "trailing/"):
        expect_error("InvalidParameterException", f"create_repository({bad!r})",
                     ecr.create_repository, repositoryName=bad)
    expect_error("RepositoryNotFoundException", "describe_images on a missing repository",
                 ecr.describe_images, repositoryName="e2e/does-not-exist")
    expect_error("RepositoryNotFoundException", "describe_repositories of a missing repository",
                 ecr.describe_repositories, repositoryNames=["e2e/does-not-exist"])
    expect_error("RepositoryNotFoundException", "put_image in a missing repository",
                 ecr.put_image, repositoryName="e2e/does-not-exist", imageTag="v1",
                 imageManifest=manifest_for(sha256(b"c"), 1, sha256(b"l"), 1))

    # ---- blobs through the layer-upload API --------------------------------
    layer, diff_id = make_layer()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}},
                        separators=(",", ":")).encode()
    layer_digest, parts = upload_blob(layer, part_size=MIN_PART)
    expect(parts, 2, "layer parts uploaded")
    expect_error("LayerPartTooSmallException", "completing an upload with a small part that is not the last",
                 upload_blob, data=config, part_size=max(1, len(config) // 2))
    config_digest, _ = upload_blob(config, part_size=len(config))

    avail = ecr.batch_check_layer_availability(repositoryName=REPO, layerDigests=[layer_digest, config_digest])
    expect(sorted((l["layerDigest"], l["layerAvailability"], l["layerSize"]) for l in avail["layers"]),
           sorted([(layer_digest, "AVAILABLE", len(layer)), (config_digest, "AVAILABLE", len(config))]),
           "batch_check_layer_availability")
    expect(avail.get("failures", []), [], "batch_check_layer_availability failures")
    expect_error("LayerAlreadyExistsException", "uploading the layer again",
                 upload_blob, data=layer, part_size=len(layer))

    # ---- put_image -----------------------------------------------------------
    manifest = manifest_for(config_digest, len(config), layer_digest, len(layer))
    manifest_digest = sha256(manifest.encode())
    out = ecr.put_image(repositoryName=REPO, imageManifest=manifest, imageTag="v1")["image"]
    expect((out["imageId"]["imageDigest"], out["imageId"]["imageTag"], out["repositoryName"], out["registryId"]),
           (manifest_digest, "v1", REPO, account), "put_image image id")
    expect(out["imageManifest"], manifest, "put_image manifest echoed")
    expect(out.get("imageManifestMediaType"), OCI_MANIFEST, "put_image media type")

    expect_error("ImageAlreadyExistsException", "put_image of the same manifest and tag",
                 ecr.put_image, repositoryName=REPO, imageManifest=manifest, imageTag="v1")
    dangling = manifest_for(config_digest, len(config), sha256(b"never uploaded"), 14)
    expect_error("LayersNotFoundException", "put_image with a layer never uploaded",
                 ecr.put_image, repositoryName=REPO, imageManifest=dangling, imageTag="dangling")
    expect_error("ImageDigestDoesNotMatchException", "put_image with a wrong imageDigest",
                 ecr.put_image, repositoryName=REPO, imageManifest=manifest, imageTag="v1-wrong",
                 imageDigest=sha256(b"something else"))

    # ---- describe_images -------------------------------------------------------
    details = ecr.describe_images(repositoryName=REPO)["imageDetails"]
    expect(len(details), 1, "describe_images count")
    d = details[0]
    expect((d["imageDigest"], d["imageTags"], d["repositoryName"], d["registryId"]),
           (manifest_digest, ["v1"], REPO, account), "describe_images detail")
    expect(d["imageManifestMediaType"], OCI_MANIFEST, "describe_images media type")
    expect(d.get("artifactMediaType"), OCI_CONFIG, "describe_images artifact media type")
    expect(d["imageSizeInBytes"], len(layer), "describe_images size (sum of the layers)")
    expect(hasattr(d["imagePushedAt"], "year"), True, "describe_images imagePushedAt is a timestamp")
    by_tag = ecr.describe_images(repositoryName=REPO, imageIds=[{"imageTag": "v1"}])["imageDetails"]
    expect([x["imageDigest"] for x in by_tag], [manifest_digest], "describe_images by tag")
    expect_error("ImageNotFoundException", "describe_images of a missing tag",
                 ecr.describe_images, repositoryName=REPO, imageIds=[{"imageTag": "nope"}])

    # ---- batch_get_image ---------------------------------------------------------
    got = ecr.batch_get_image(repositoryName=REPO, imageIds=[{"imageTag": "v1"}, {"imageDigest": manifest_digest},
                                                              {"imageTag": "nope"}])
    expect(len(got["images"]), 2, "batch_get_image images")
    for img in got["images"]:
        expect(img["imageManifest"], manifest, "batch_get_image manifest bytes")
        expect(sha256(img["imageManifest"].encode()), manifest_digest, "batch_get_image manifest digest")
        expect(img["imageId"]["imageDigest"], manifest_digest, "batch_get_image digest")
        expect(img.get("imageManifestMediaType"), OCI_MANIFEST, "batch_get_image media type")
    expect(got["images"][0]["imageId"].get("imageTag"), "v1", "batch_get_image tag")
    expect([(f["imageId"].get("imageTag"), f["failureCode"]) for f in got["failures"]],
           [("nope", "ImageNotFound")], "batch_get_image failures")

    # ---- list_images paginated over 25 tags ------------------------------------------
    want = {"v1": manifest_digest}
    for i in range(24):
        tag = f"t{i:02d}"
        m = manifest_for(config_digest, len(config), layer_digest, len(layer), {"org.example.n": str(i)})
        out = ecr.put_image(repositoryName=REPO, imageManifest=m, imageTag=tag)["image"]
        expect(out["imageId"]["imageDigest"], sha256(m.encode()), f"put_image {tag}")
        want[tag] = sha256(m.encode())
    expect(len(want), 25, "tags pushed")
    pages = ecr.get_paginator("list_images").paginate(repositoryName=REPO, PaginationConfig={"PageSize": 10})
    sizes, seen = [], {}
    for page in pages:
        sizes.append(len(page["imageIds"]))
        for iid in page["imageIds"]:
            tag = iid.get("imageTag")
            if tag in seen:
                raise Mismatch(f"list_images: tag {tag} on two pages")
            seen[tag] = iid["imageDigest"]
    expect(sizes, [10, 10, 5], "list_images page sizes")
    expect(seen, want, "list_images tags and digests")

    pages = ecr.get_paginator("describe_images").paginate(repositoryName=REPO, PaginationConfig={"PageSize": 10})
    described = {}
    for page in pages:
        for d in page["imageDetails"]:
            described[d["imageTags"][0]] = d["imageDigest"]
    expect(described, want, "describe_images paginated")

    # ---- clean-up ---------------------------------------------------------------------
    out = ecr.batch_delete_image(repositoryName=REPO, imageIds=[{"imageTag": "v1"}])
    expect([(i["imageDigest"], i.get("imageTag")) for i in out["imageIds"]], [(manifest_digest, "v1")],
           "batch_delete_image")
    expect(out.get("failures", []), [], "batch_delete_image failures")
    left = ecr.list_images(repositoryName=REPO, maxResults=100)["imageIds"]
    expect(len(left), 24, "images left after batch_delete_image")
    expect_error("RepositoryNotEmptyException", "delete_repository of a repository with images",
                 ecr.delete_repository, repositoryName=REPO)
    out = ecr.delete_repository(repositoryName=REPO, force=True)["repository"]
    expect(out["repositoryName"], REPO, "delete_repository force")
    expect_error("RepositoryNotFoundException", "describe_images after delete_repository",
                 ecr.describe_images, repositoryName=REPO)


if __name__ == "__main__":
    try:
        main()
    except Mismatch as e:
        print(f"FAIL after {checks} checks: {e}", file=sys.stderr)
        sys.exit(1)
    except botocore.exceptions.ClientError as e:
        print(f"FAIL after {checks} checks: unexpected error {e}", file=sys.stderr)
        sys.exit(1)
    print(f"OK: boto3 {boto3.__version__} end-to-end against {ENDPOINT}: {checks} checks")
