// Package osvdb turns a directory of OSV advisories (as OSV's per-ecosystem
// all.zip exports unpack) into an index a scanner can read in proportion to
// an image's packages, and fetches those exports.
//
// Index lays out one JSON array per (ecosystem, package name) with every
// advisory affecting it, verbatim, plus a meta.json; a scanner then opens
// only the files of the packages it found. Indexes live under a cache
// directory, one directory per state of the source (a fingerprint of its
// files' names, sizes and modification times), each built in a temporary
// directory and renamed into place when complete, so a reader never sees a
// half-built index, and an unchanged source is indexed once.
//
// Fetcher downloads <source>/<main ecosystem>/all.zip (Debian for
// Debian:12, as OSV.dev exports releases only there) and unpacks the
// release's JSON files into <dir>/<ecosystem>/, replacing that ecosystem's
// previous files only once the new ones are all on disk.
package osvdb
