package core

import (
	"bytes"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

func repoNames(repos []Repository) []string {
	names := []string{}
	for _, r := range repos {
		names = append(names, r.Name)
	}
	return names
}

func TestCreateAndGetRepository(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		created, err := f.r.CreateRepository(bg, regA, "team/app")
		must(t, err, "CreateRepository")
		want := Repository{Registry: regA, Name: "team/app", CreatedAt: f.clock.Now()}
		if !reflect.DeepEqual(created, want) {
			t.Fatalf("CreateRepository = %+v, want %+v", created, want)
		}
		f.clock.Advance(time.Hour)
		got, err := f.r.GetRepository(bg, regA, "team/app")
		must(t, err, "GetRepository")
		if got.Name != want.Name || got.Registry != want.Registry || !got.CreatedAt.Equal(want.CreatedAt) {
			t.Fatalf("GetRepository = %+v, want %+v", got, want)
		}

		_, err = f.r.CreateRepository(bg, regA, "team/app")
		wantKind(t, err, KindRepositoryExists, "creating it twice")

		// Same name in another registry (other account, or same account in another region) is distinct.
		_, err = f.r.GetRepository(bg, regB, "team/app")
		wantKind(t, err, KindRepositoryNotFound, "GetRepository in another account")
		_, err = f.r.GetRepository(bg, regA2, "team/app")
		wantKind(t, err, KindRepositoryNotFound, "GetRepository in another region")
		f.createRepo(regB, "team/app")

		for _, bad := range []string{"", "a", "Upper", "-x", "x-", "a//b", "a/", "/a", "a b", "a:b", string(bytes.Repeat([]byte("a"), 257))} {
			_, err := f.r.CreateRepository(bg, regA, bad)
			wantKind(t, err, KindNameInvalid, "CreateRepository("+bad+")")
		}
		for _, good := range []string{"ab", "a.b", "a_b", "a__b", "a--b", "x/y/z", string(bytes.Repeat([]byte("a"), 256))} {
			f.createRepo(regA, good)
		}
	})
}

func TestListRepositoriesPaging(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		names := []string{"delta", "alpha", "alpha/sub", "alpha-2", "charlie", "bravo"}
		for _, n := range names {
			f.createRepo(regA, n)
		}
		f.createRepo(regB, "zulu")    // other account: never listed
		f.createRepo(regA2, "yankee") // other region: never listed
		sorted := []string{"alpha", "alpha-2", "alpha/sub", "bravo", "charlie", "delta"}

		all, more, err := f.r.ListRepositories(bg, regA, Page{})
		must(t, err, "ListRepositories")
		if got := repoNames(all); !reflect.DeepEqual(got, sorted) || more {
			t.Fatalf("all = %v more=%v, want %v", got, more, sorted)
		}
		if all[0].Registry != regA {
			t.Fatalf("Registry = %+v", all[0].Registry)
		}

		var walked []string
		p := Page{N: 4}
		for i := 0; ; i++ {
			page, more, err := f.r.ListRepositories(bg, regA, p)
			must(t, err, "page")
			walked = append(walked, repoNames(page)...)
			if i == 0 && (len(page) != 4 || !more) {
				t.Fatalf("first page %v more=%v", repoNames(page), more)
			}
			if !more {
				break
			}
			p.Last = page[len(page)-1].Name
		}
		if !reflect.DeepEqual(walked, sorted) {
			t.Fatalf("walked %v, want %v", walked, sorted)
		}

		// Exactly N left: no more.
		page, more, _ := f.r.ListRepositories(bg, regA, Page{N: 2, Last: "charlie"})
		if got := repoNames(page); !reflect.DeepEqual(got, []string{"delta"}) || more {
			t.Fatalf("after charlie: %v more=%v", got, more)
		}
		page, more, _ = f.r.ListRepositories(bg, regA, Page{N: 2, Last: "alpha-2"})
		if got := repoNames(page); !reflect.DeepEqual(got, []string{"alpha/sub", "bravo"}) || !more {
			t.Fatalf("after alpha-2: %v more=%v", got, more)
		}
		page, more, _ = f.r.ListRepositories(bg, regA, Page{N: 6})
		if len(page) != 6 || more {
			t.Fatalf("N = count: %d more=%v", len(page), more)
		}
		// Last need not exist.
		page, _, _ = f.r.ListRepositories(bg, regA, Page{Last: "b"})
		if got := repoNames(page); !reflect.DeepEqual(got, []string{"bravo", "charlie", "delta"}) {
			t.Fatalf("after b: %v", got)
		}
		page, more, _ = f.r.ListRepositories(bg, RegistryID{Account: "333333333333", Region: "us-east-1"}, Page{})
		if len(page) != 0 || more {
			t.Fatalf("empty registry: %v", page)
		}
	})
}

func TestDeleteRepository(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		_, err := f.r.DeleteRepository(bg, regA, "nope", false)
		wantKind(t, err, KindRepositoryNotFound, "deleting a missing repository")

		// Empty (even with blobs but no images) deletes without force.
		f.createRepo(regA, "empty")
		onlyBlob := f.putBlob(regA, "empty", []byte("lonely"), mtLayer)
		_, err = f.r.DeleteRepository(bg, regA, "empty", false)
		must(t, err, "deleting a repository without images")
		if f.blobBytesStored(onlyBlob.Digest) {
			t.Fatal("unreferenced blob bytes survived the repository")
		}

		f.createRepo(regA, "app")
		f.createRepo(regA, "other")
		img, _ := f.pushImage(regA, "app", "v1", "one")
		shared := f.putBlob(regA, "app", []byte("shared layer"), mtLayer)
		f.putBlob(regA, "other", []byte("shared layer"), mtLayer)

		_, err = f.r.DeleteRepository(bg, regA, "app", false)
		wantKind(t, err, KindRepositoryNotEmpty, "deleting a repository with images")
		if _, err := f.r.StatManifest(bg, regA, "app", "v1", nil); err != nil {
			t.Fatalf("a refused delete changed the repository: %v", err)
		}

		repo, err := f.r.DeleteRepository(bg, regA, "app", true)
		must(t, err, "force delete")
		if repo.Name != "app" || repo.Registry != regA {
			t.Fatalf("DeleteRepository returned %+v", repo)
		}
		_, err = f.r.GetRepository(bg, regA, "app")
		wantKind(t, err, KindRepositoryNotFound, "GetRepository after delete")

		// Recreated, the repository starts empty: nothing of the old one is reachable.
		f.createRepo(regA, "app")
		for _, d := range []Descriptor{img.config, img.layers[0], shared} {
			_, err := f.r.StatBlob(bg, regA, "app", d.Digest)
			wantKind(t, err, KindBlobNotFound, "old blob in the recreated repository")
		}
		_, err = f.r.StatManifest(bg, regA, "app", img.digest.String(), nil)
		wantKind(t, err, KindManifestNotFound, "old manifest")
		_, err = f.r.StatManifest(bg, regA, "app", "v1", nil)
		wantKind(t, err, KindManifestNotFound, "old tag")
		tags, _, err := f.r.ListTags(bg, regA, "app", Page{})
		if err != nil || len(tags) != 0 {
			t.Fatalf("tags of the recreated repository: %v %v", tags, err)
		}

		// Bytes nobody links are gone; bytes another repository links stay.
		if f.blobBytesStored(img.config.Digest) || f.blobBytesStored(img.layers[0].Digest) {
			t.Fatal("unreferenced blob bytes were not deleted")
		}
		if !f.blobBytesStored(shared.Digest) {
			t.Fatal("a blob still linked from another repository was deleted")
		}
		rd, err := f.r.OpenBlob(bg, regA, "other", shared.Digest)
		must(t, err, "shared blob in the other repository")
		got, _ := io.ReadAll(rd)
		rd.Close()
		if string(got) != "shared layer" {
			t.Fatalf("shared blob = %q", got)
		}
	})
}

func TestCreateOnPush(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		_, err := f.r.StartUpload(bg, regA, "auto")
		wantKind(t, err, KindRepositoryNotFound, "StartUpload without create-on-push")
		_, err = f.r.PutBlob(bg, regA, "auto", digest.FromString(""), bytes.NewReader(nil))
		wantKind(t, err, KindRepositoryNotFound, "PutBlob without create-on-push")
	})
	eachStoreCreateOnPush(t, func(t *testing.T, f *fixture) {
		f.putBlob(regA, "auto/one", []byte("x"), mtLayer)
		if _, err := f.r.GetRepository(bg, regA, "auto/one"); err != nil {
			t.Fatalf("PutBlob did not create the repository: %v", err)
		}
		if _, err := f.r.StartUpload(bg, regA, "auto/two"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.r.GetRepository(bg, regA, "auto/two"); err != nil {
			t.Fatalf("StartUpload did not create the repository: %v", err)
		}
		_, err := f.r.StartUpload(bg, regA, "Bad")
		wantKind(t, err, KindNameInvalid, "create-on-push with an invalid name")
	})
}

// A repository's links are found by reading every link (they are keyed by
// digest first, since layout 7): deleting one repository unlinks its blobs
// and no other's, however alike the names — a repository under it, one
// whose name ends with its name, the same name in another registry.
func TestDeleteRepositoryUnlinksOnlyItsOwnBlobs(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		content := []byte("one layer everywhere")
		names := []string{"app", "app/x", "xapp"}
		for _, n := range names {
			f.createRepo(regA, n)
			f.putBlob(regA, n, content, mtLayer)
		}
		f.createRepo(regB, "app")
		d := f.putBlob(regB, "app", content, mtLayer).Digest
		own := f.putBlob(regA, "app", []byte("only app's"), mtLayer).Digest

		_, err := f.r.DeleteRepository(bg, regA, "app", false)
		must(t, err, "DeleteRepository")
		f.createRepo(regA, "app")
		for _, b := range []digest.Digest{d, own} {
			_, err := f.r.StatBlob(bg, regA, "app", b)
			wantKind(t, err, KindBlobNotFound, "a blob of the deleted repository")
		}
		if f.blobBytesStored(own) {
			t.Error("the deleted repository's own blob is still stored")
		}
		for _, at := range []struct {
			reg  RegistryID
			repo string
		}{{regA, "app/x"}, {regA, "xapp"}, {regB, "app"}} {
			if got := readBlob(t, f, at.reg, at.repo, d); got != string(content) {
				t.Errorf("%v %s reads %q after another repository's deletion", at.reg, at.repo, got)
			}
		}
	})
}
