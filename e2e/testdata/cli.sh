#!/usr/bin/env bash
# The AWS CLI (v1 or v2) against a running berth, step by step, as a user
# would drive it. Every step checks what came back; any mismatch exits non-zero.
#
#   BERTH_ENDPOINT=http://127.0.0.1:4566 \
#   AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \
#   bash e2e/testdata/cli.sh
source "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"

repo="${BERTH_CLI_REPO:-e2e/cli-app}"

# ---- create-repository ------------------------------------------------------
step "create-repository $repo"
got="$(ecr create-repository --repository-name "$repo" \
	--query 'repository.[repositoryName,registryId,repositoryArn]')"
account="$(cut -f2 <<<"$got")"
[[ "$account" =~ ^[0-9]{12}$ ]] || fail "registryId is not 12 digits: [$account]"
expect_eq "$got" "$(printf '%s\t%s\t%s' "$repo" "$account" "arn:aws:ecr:${AWS_DEFAULT_REGION}:${account}:repository/${repo}")" \
	"create-repository name, registry id, arn"

got="$(ecr describe-repositories --repository-names "$repo" --query 'repositories[0].repositoryName')"
expect_eq "$got" "$repo" "describe-repositories"

# ---- get-login-password as the /v2 Basic password ----------------------------
step "get-login-password"
password="$(aws ecr get-login-password --endpoint-url "$BERTH_ENDPOINT")"
[[ -n "$password" ]] || fail "get-login-password printed nothing"

code="$(curl -s -o /dev/null -w '%{http_code}' -u "AWS:${password}" "$BERTH_ENDPOINT/v2/")"
expect_eq "$code" "200" "GET /v2/ with AWS:<login password>"
code="$(curl -s -o /dev/null -w '%{http_code}' "$BERTH_ENDPOINT/v2/")"
expect_eq "$code" "401" "GET /v2/ without credentials"
code="$(curl -s -o /dev/null -w '%{http_code}' -u "AWS:not-${password}" "$BERTH_ENDPOINT/v2/")"
expect_eq "$code" "401" "GET /v2/ with a wrong password"

# ---- layer and config through the layer-upload API --------------------------
# upload_blob FILE PART_SIZE: uploads FILE in parts of PART_SIZE bytes (every
# part but the last must be at least 5 MiB), checks every answer, prints the
# digest berth reports.
min_part=$((5 << 20))
upload_blob() {
	local file="$1" part_size="$2" size upload_id first last got i
	size="$(size_of "$file")"
	upload_id="$(ecr initiate-layer-upload --repository-name "$repo" --query uploadId)"
	[[ -n "$upload_id" && "$upload_id" != "None" ]] || fail "initiate-layer-upload: no uploadId"
	first=0
	i=0
	while ((first < size)); do
		last=$((first + part_size - 1))
		((last < size)) || last=$((size - 1))
		tail -c "+$((first + 1))" "$file" >"$work/rest"
		head -c "$((last - first + 1))" "$work/rest" >"$work/part.$i"
		got="$(ecr upload-layer-part --repository-name "$repo" --upload-id "$upload_id" \
			--part-first-byte "$first" --part-last-byte "$last" \
			--layer-part-blob "fileb://$work/part.$i" \
			--query '[uploadId,lastByteReceived]')" || return 1
		expect_eq "$got" "$(printf '%s\t%s' "$upload_id" "$last")" "upload-layer-part $i of $file"
		first=$((last + 1))
		i=$((i + 1))
	done
	got="$(ecr complete-layer-upload --repository-name "$repo" --upload-id "$upload_id" \
		--layer-digests "sha256:$(sha256_of "$file")" --query layerDigest)" || return 1
	printf '%s' "$got"
}

step "upload a layer (2 parts) and a config (1 part)"
mkdir -p "$work/rootfs/etc"
for i in $(seq 1 200); do printf 'line %d of the berth cli e2e layer\n' "$i"; done >"$work/rootfs/etc/berth.txt"
# Incompressible bytes make the layer over 5 MiB: two parts.
head -c "$min_part" /dev/urandom >"$work/rootfs/etc/random.bin"
tar -C "$work/rootfs" -czf "$work/layer.tar.gz" .
layer_digest="sha256:$(sha256_of "$work/layer.tar.gz")"
layer_size="$(size_of "$work/layer.tar.gz")"
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"config":{}}' \
	"$(gzip -dc "$work/layer.tar.gz" | sha256sum | cut -d' ' -f1)" >"$work/config.json"
config_digest="sha256:$(sha256_of "$work/config.json")"
config_size="$(size_of "$work/config.json")"

got="$(upload_blob "$work/layer.tar.gz" "$min_part")"
expect_eq "$got" "$layer_digest" "complete-layer-upload (layer) digest"
# A part under 5 MiB that is not the last is refused at completion.
if out="$(upload_blob "$work/config.json" $(((config_size + 1) / 2)) 2>&1)"; then
	fail "complete-layer-upload with two small parts succeeded: $out"
fi
[[ "$out" == *LayerPartTooSmallException* ]] || fail "complete-layer-upload with two small parts: $out"
got="$(upload_blob "$work/config.json" "$config_size")"
expect_eq "$got" "$config_digest" "complete-layer-upload (config) digest"

got="$(ecr batch-check-layer-availability --repository-name "$repo" \
	--layer-digests "$layer_digest" "$config_digest" \
	--query 'join(`,`, layers[].[layerDigest, layerAvailability, to_string(layerSize)][])')"
expect_eq "$got" "$layer_digest,AVAILABLE,$layer_size,$config_digest,AVAILABLE,$config_size" "batch-check-layer-availability"
got="$(ecr batch-check-layer-availability --repository-name "$repo" \
	--layer-digests "sha256:$(printf 'missing' | sha256sum | cut -d' ' -f1)" --query 'failures[0].failureCode')"
expect_eq "$got" "MissingLayerDigest" "batch-check-layer-availability of a missing layer"

# The uploaded layer is served byte for byte on /v2.
curl -sf -L -u "AWS:${password}" -o "$work/layer.back" "$BERTH_ENDPOINT/v2/$repo/blobs/$layer_digest" ||
	fail "GET /v2/$repo/blobs/$layer_digest"
expect_eq "sha256:$(sha256_of "$work/layer.back")" "$layer_digest" "layer read back over /v2"

# ---- put-image ----------------------------------------------------------------
step "put-image v1"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%s}]}' \
	"$config_digest" "$config_size" "$layer_digest" "$layer_size" >"$work/manifest.json"
manifest_digest="sha256:$(sha256_of "$work/manifest.json")"

got="$(ecr put-image --repository-name "$repo" --image-manifest "file://$work/manifest.json" --image-tag v1 \
	--query '[image.imageId.imageDigest,image.imageId.imageTag,image.repositoryName]')"
expect_eq "$got" "$(printf '%s\tv1\t%s' "$manifest_digest" "$repo")" "put-image digest, tag, repository"

# The same manifest under the same tag again is refused.
if out="$(ecr put-image --repository-name "$repo" --image-manifest "file://$work/manifest.json" --image-tag v1 2>&1)"; then
	fail "put-image of an unchanged manifest and tag succeeded: $out"
fi
[[ "$out" == *ImageAlreadyExistsException* ]] || fail "put-image again: want ImageAlreadyExistsException, got: $out"

# A manifest whose layer was never uploaded is refused.
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":7}]}' \
	"$config_digest" "$config_size" "$(printf 'missing' | sha256sum | cut -d' ' -f1)" >"$work/dangling.json"
if out="$(ecr put-image --repository-name "$repo" --image-manifest "file://$work/dangling.json" --image-tag dangling 2>&1)"; then
	fail "put-image of a manifest with a missing layer succeeded: $out"
fi
[[ "$out" == *LayersNotFoundException* ]] || fail "put-image with a missing layer: want LayersNotFoundException, got: $out"

# ---- describe-images ------------------------------------------------------------
step "describe-images"
got="$(ecr describe-images --repository-name "$repo" \
	--query 'imageDetails[*].[imageDigest, join(`,`, imageTags), imageManifestMediaType, to_string(imageSizeInBytes), artifactMediaType]')"
expect_eq "$got" "$(printf '%s\tv1\tapplication/vnd.oci.image.manifest.v1+json\t%s\tapplication/vnd.oci.image.config.v1+json' "$manifest_digest" "$layer_size")" \
	"describe-images digest, tags, media type, size, artifact type"
got="$(ecr describe-images --repository-name "$repo" --image-ids imageTag=v1 --query 'imageDetails[0].imageDigest')"
expect_eq "$got" "$manifest_digest" "describe-images --image-ids imageTag=v1"
got="$(ecr list-images --repository-name "$repo" --query 'imageIds[*].[imageDigest,imageTag]')"
expect_eq "$got" "$(printf '%s\tv1' "$manifest_digest")" "list-images"

# ---- batch-get-image --------------------------------------------------------------
step "batch-get-image"
got="$(ecr batch-get-image --repository-name "$repo" --image-ids imageTag=v1 \
	--query '[images[0].imageId.imageDigest, images[0].imageManifestMediaType, to_string(length(failures || `[]`))]')"
expect_eq "$got" "$(printf '%s\tapplication/vnd.oci.image.manifest.v1+json\t0' "$manifest_digest")" "batch-get-image id, media type, failures"
aws ecr batch-get-image --endpoint-url "$BERTH_ENDPOINT" --repository-name "$repo" --image-ids imageTag=v1 \
	--query 'images[0].imageManifest' --output text >"$work/manifest.back"
# --output text ends the value with a newline; the manifest itself has none.
got="$(printf '%s' "$(cat "$work/manifest.back")" | sha256sum | cut -d' ' -f1)"
expect_eq "sha256:$got" "$manifest_digest" "batch-get-image manifest bytes"
got="$(ecr batch-get-image --repository-name "$repo" --image-ids imageTag=nope \
	--query '[to_string(length(images || `[]`)), failures[0].failureCode]')"
expect_eq "$got" "$(printf '0\tImageNotFound')" "batch-get-image of a missing tag"

# The tag resolves to the same digest over /v2.
got="$(curl -sf -u "AWS:${password}" -o /dev/null -D - \
	-H 'Accept: application/vnd.oci.image.manifest.v1+json' \
	"$BERTH_ENDPOINT/v2/$repo/manifests/v1" | tr -d '\r' | awk 'tolower($1)=="docker-content-digest:" {print $2}')"
expect_eq "$got" "$manifest_digest" "Docker-Content-Digest of /v2/$repo/manifests/v1"

# ---- batch-delete-image -------------------------------------------------------------
step "batch-delete-image imageTag=v1"
got="$(ecr batch-delete-image --repository-name "$repo" --image-ids imageTag=v1 \
	--query '[imageIds[0].imageDigest, imageIds[0].imageTag, to_string(length(imageIds || `[]`)), to_string(length(failures || `[]`))]')"
expect_eq "$got" "$(printf '%s\tv1\t1\t0' "$manifest_digest")" "batch-delete-image ids and failures"

got="$(ecr describe-images --repository-name "$repo" --query 'to_string(length(imageDetails || `[]`))')"
expect_eq "$got" "0" "describe-images after batch-delete-image (images left)"
got="$(ecr list-images --repository-name "$repo" --query 'to_string(length(imageIds || `[]`))')"
expect_eq "$got" "0" "list-images after batch-delete-image (images left)"

# ---- error path -----------------------------------------------------------------------
step "describe-images on a missing repository"
rc=0
aws ecr describe-images --endpoint-url "$BERTH_ENDPOINT" --repository-name e2e/does-not-exist \
	>"$work/missing.out" 2>"$work/missing.err" || rc=$?
((rc != 0)) || fail "describe-images on a missing repository exited 0: $(cat "$work/missing.out")"
grep -q RepositoryNotFoundException "$work/missing.err" ||
	fail "describe-images on a missing repository: no RepositoryNotFoundException in stderr: $(cat "$work/missing.err")"

# ---- lifecycle policy ------------------------------------------------------------------
step "put-lifecycle-policy / get-lifecycle-policy / preview / delete-lifecycle-policy"
cat >"$work/lifecycle.json" <<'JSON'
{"rules":[{"rulePriority":1,"description":"expire untagged images after 14 days","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}}]}
JSON
got="$(ecr put-lifecycle-policy --repository-name "$repo" --lifecycle-policy-text "file://$work/lifecycle.json" --query 'repositoryName')"
expect_eq "$got" "$repo" "put-lifecycle-policy"
got="$(ecr get-lifecycle-policy --repository-name "$repo" --query 'lifecyclePolicyText')"
expect_eq "$got" "$(cat "$work/lifecycle.json")" "get-lifecycle-policy text"
got="$(ecr start-lifecycle-policy-preview --repository-name "$repo" --query 'status')"
expect_eq "$got" "IN_PROGRESS" "start-lifecycle-policy-preview status"
for _ in $(seq 100); do
	got="$(ecr get-lifecycle-policy-preview --repository-name "$repo" --query 'status')"
	[[ $got == IN_PROGRESS ]] || break
	sleep 0.1
done
expect_eq "$got" "COMPLETE" "get-lifecycle-policy-preview status"
got="$(ecr delete-lifecycle-policy --repository-name "$repo" --query 'repositoryName')"
expect_eq "$got" "$repo" "delete-lifecycle-policy"
rc=0
sed 's/"countNumber":14/"countNumber":0/' "$work/lifecycle.json" >"$work/bad-lifecycle.json"
aws ecr put-lifecycle-policy --endpoint-url "$BERTH_ENDPOINT" --repository-name "$repo" \
	--lifecycle-policy-text "file://$work/bad-lifecycle.json" >"$work/bad.out" 2>"$work/bad.err" || rc=$?
((rc != 0)) || fail "put-lifecycle-policy of countNumber 0 exited 0: $(cat "$work/bad.out")"
grep -q InvalidParameterException "$work/bad.err" ||
	fail "put-lifecycle-policy of countNumber 0: no InvalidParameterException in stderr: $(cat "$work/bad.err")"
rc=0
aws ecr get-lifecycle-policy --endpoint-url "$BERTH_ENDPOINT" --repository-name "$repo" >"$work/gone.out" 2>"$work/gone.err" || rc=$?
((rc != 0)) && grep -q LifecyclePolicyNotFoundException "$work/gone.err" ||
	fail "get-lifecycle-policy after delete: $(cat "$work/gone.out" "$work/gone.err")"

step "delete-repository"
got="$(ecr delete-repository --repository-name "$repo" --query 'repository.repositoryName')"
expect_eq "$got" "$repo" "delete-repository"

echo "OK: AWS CLI end-to-end against $BERTH_ENDPOINT"
