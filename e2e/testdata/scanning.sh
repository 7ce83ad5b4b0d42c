#!/usr/bin/env bash
# The AWS CLI's image scanning commands against a berth started with
# --plugins-dir (the example banned-packages scanner) and --scan-db
# testdata/osv, as a user would run them. Any mismatch exits non-zero.
source "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"

repo="e2e/scan-cli"

# upload FILE: one-part layer upload, prints the digest.
upload() {
	local id
	id="$(ecr initiate-layer-upload --repository-name "$repo" --query uploadId)"
	ecr upload-layer-part --repository-name "$repo" --upload-id "$id" --part-first-byte 0 \
		--part-last-byte "$(($(size_of "$1") - 1))" --layer-part-blob "fileb://$1" >/dev/null
	ecr complete-layer-upload --repository-name "$repo" --upload-id "$id" --layer-digests "sha256:$(sha256_of "$1")" --query layerDigest
}

step "create-repository with scan on push"
got="$(ecr create-repository --repository-name "$repo" --image-scanning-configuration scanOnPush=true \
	--query 'repository.imageScanningConfiguration.scanOnPush')"
expect_eq "$got" "True" "scanOnPush"

step "push a Debian 12 image with a vulnerable openssh and telnetd"
mkdir -p "$work/rootfs/etc" "$work/rootfs/var/lib/dpkg"
printf 'NAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n' >"$work/rootfs/etc/os-release"
cat >"$work/rootfs/var/lib/dpkg/status" <<'STATUS'
Package: openssh-server
Status: install ok installed
Source: openssh
Version: 1:9.2p1-2+deb12u2
Architecture: amd64

Package: telnetd
Status: install ok installed
Source: inetutils
Version: 2:2.4-2+deb12u1
Architecture: amd64
STATUS
tar -C "$work/rootfs" -czf "$work/layer.tar.gz" etc var
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$work/config.json"
layer="$(upload "$work/layer.tar.gz")"
config="$(upload "$work/config.json")"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%s}]}' \
	"$config" "$(size_of "$work/config.json")" "$layer" "$(size_of "$work/layer.tar.gz")" >"$work/manifest.json"
ecr put-image --repository-name "$repo" --image-manifest "file://$work/manifest.json" --image-tag v1 >/dev/null

step "wait image-scan-complete"
aws ecr wait image-scan-complete --endpoint-url "$BERTH_ENDPOINT" --repository-name "$repo" --image-id imageTag=v1

step "describe-image-scan-findings"
got="$(ecr describe-image-scan-findings --repository-name "$repo" --image-id imageTag=v1 \
	--query 'join(`,`, sort(imageScanFindings.findings[].name))')"
expect_eq "$got" "BANNED-telnetd,CVE-2024-6387" "finding names"
got="$(ecr describe-image-scan-findings --repository-name "$repo" --image-id imageTag=v1 \
	--query '[imageScanStatus.status, to_string(imageScanFindings.findingSeverityCounts.HIGH)]')"
expect_eq "$got" "$(printf 'COMPLETE\t2')" "status and HIGH count"
# The CLI pages by itself; one finding a page must give the same two.
got="$(ecr describe-image-scan-findings --repository-name "$repo" --image-id imageTag=v1 --page-size 1 \
	--query 'imageScanFindings.findings[].name' | tr '\t' '\n' | sort | paste -sd, -)"
expect_eq "$got" "BANNED-telnetd,CVE-2024-6387" "finding names, one per page"

step "describe-images shows the scan"
got="$(ecr describe-images --repository-name "$repo" --image-ids imageTag=v1 \
	--query 'imageDetails[0].[imageScanStatus.status, to_string(imageScanFindingsSummary.findingSeverityCounts.HIGH)]')"
expect_eq "$got" "$(printf 'COMPLETE\t2')" "describe-images scan status and summary"

step "start-image-scan"
got="$(ecr start-image-scan --repository-name "$repo" --image-id imageTag=v1 --query imageScanStatus.status)"
expect_eq "$got" "IN_PROGRESS" "start-image-scan status"
aws ecr wait image-scan-complete --endpoint-url "$BERTH_ENDPOINT" --repository-name "$repo" --image-id imageTag=v1

step "registry scanning configuration"
got="$(ecr get-registry-scanning-configuration --query 'scanningConfiguration.scanType')"
expect_eq "$got" "BASIC" "default scan type"
ecr put-registry-scanning-configuration --scan-type BASIC \
	--rules 'scanFrequency=SCAN_ON_PUSH,repositoryFilters=[{filter=e2e/scan-*,filterType=WILDCARD}]' >/dev/null
got="$(ecr get-registry-scanning-configuration --query 'scanningConfiguration.rules[0].[scanFrequency, repositoryFilters[0].filter]')"
expect_eq "$got" "$(printf 'SCAN_ON_PUSH\te2e/scan-*')" "the rule put"
got="$(ecr batch-get-repository-scanning-configuration --repository-names "$repo" e2e/none \
	--query '[scanningConfigurations[0].scanFrequency, scanningConfigurations[0].appliedScanFilters[0].filter, failures[0].failureCode]')"
expect_eq "$got" "$(printf 'SCAN_ON_PUSH\te2e/scan-*\tREPOSITORY_NOT_FOUND')" "batch-get-repository-scanning-configuration"

printf 'OK: AWS CLI scanning\n'
