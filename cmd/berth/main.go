// Command berth is a local emulator of AWS Elastic Container Registry.
//
//	berth serve   [flags]            run the registry (ECR API and OCI /v2 on one port)
//	berth token   [--account A]      print a /v2 password (HTTP Basic user "AWS")
//	berth policy  compile|eval|export   IAM policies as Rego, one decision, a bundle for opa test
//	berth scan-db fetch --dir DIR --ecosystem E   download OSV advisories for scanning
//	berth version
//
// Every flag has a BERTH_* environment equivalent (e.g. --data-dir and
// BERTH_DATA_DIR); a flag given on the command line wins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/server"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		var code exitCode
		if errors.As(err, &code) {
			os.Exit(int(code)) // an outcome, already printed
		}
		fmt.Fprintln(os.Stderr, "berth:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return errors.New("missing command")
	}
	switch args[0] {
	case "serve":
		return helpIsNotAnError(serve(args[1:], stdout, stderr))
	case "token":
		return helpIsNotAnError(token(args[1:], stdout, stderr))
	case "policy":
		return helpIsNotAnError(policyCommand(args[1:], stdout, stderr))
	case "scan-db":
		return helpIsNotAnError(scanDBCommand(args[1:], stdout, stderr))
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "berth", versionString())
		return nil
	case "help", "-h", "--help":
		usage(stdout)
		return nil
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

// helpIsNotAnError turns a command's -h or --help, whose flag usage has been
// printed already, into success.
func helpIsNotAnError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  berth serve [flags]       run berth (berth serve -h lists the flags)
  berth token [flags]       print a password for docker login -u AWS
  berth policy ...          compile, evaluate and export IAM policies (berth policy help)
  berth scan-db fetch ...   download OSV advisories for image scanning (berth scan-db help)
  berth version             print the version
`)
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// env returns BERTH_<name> or def.
func env(name, def string) string {
	if v, ok := os.LookupEnv("BERTH_" + name); ok {
		return v
	}
	return def
}

func envBool(name string) bool {
	v := strings.ToLower(env(name, ""))
	return v == "1" || v == "true" || v == "yes"
}

// envBoolOn is envBool for a setting that is on unless BERTH_<name> says
// 0, false or no.
func envBoolOn(name string) bool {
	v := strings.ToLower(env(name, ""))
	return v != "0" && v != "false" && v != "no"
}

// setFromEnv sets each named flag from its BERTH_* variable (--max-uploads
// from BERTH_MAX_UPLOADS), parsed as the flag would be, before the command
// line is: a flag given there still wins, and a malformed value is refused
// either way.
func setFromEnv(fs *flag.FlagSet, names ...string) error {
	for _, name := range names {
		key := "BERTH_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		if v, ok := os.LookupEnv(key); ok {
			if err := fs.Set(name, v); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
		}
	}
	return nil
}

func serve(args []string, stdout, stderr io.Writer) error {
	d := server.Defaults()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", env("ADDR", d.Addr), "listen address (BERTH_ADDR)")
	dataDir := fs.String("data-dir", env("DATA_DIR", d.DataDir), "where state is kept across restarts (BERTH_DATA_DIR)")
	memory := fs.Bool("memory", envBool("MEMORY"), "keep all state in memory, nothing on disk (BERTH_MEMORY)")
	region := fs.String("region", env("REGION", d.Region), "default region (BERTH_REGION)")
	account := fs.String("default-account", env("DEFAULT_ACCOUNT", d.DefaultAccount), "account for callers without a 12-digit access key (BERTH_DEFAULT_ACCOUNT)")
	noAuth := fs.Bool("no-auth", envBool("NO_AUTH"), "serve /v2 anonymously as the default account (BERTH_NO_AUTH)")
	createOnPush := fs.Bool("create-on-push", envBool("CREATE_ON_PUSH"), "create missing repositories on push with default settings where no CREATE_ON_PUSH creation template applies: berth's own implicit ROOT template (BERTH_CREATE_ON_PUSH)")
	uriStyle := fs.String("uri-style", env("URI_STYLE", "localhost"), "repositoryUri host: localhost (localhost:<port>), ecr (<account>.dkr.ecr.<region>.localhost:<port>) or aws (<account>.dkr.ecr.<region>.amazonaws.com, as AWS and moto give it; resolves to berth only through a hosts entry) (BERTH_URI_STYLE)")
	hostname := fs.String("hostname", env("HOSTNAME", ""), "host name to put in repositoryUri and proxyEndpoint, e.g. a compose service name (BERTH_HOSTNAME)")
	admin := fs.Bool("admin", envBoolOn("ADMIN"), "serve /_berth/ecr/*, /_berth/decisions, /_berth/policies, /_berth/lifecycle/run, /_berth/reset and /moto-api/reset to local clients; --admin=false answers 404 there (BERTH_ADMIN)")
	logLevel := fs.String("log-level", env("LOG_LEVEL", "info"), "debug, info, warn or error (BERTH_LOG_LEVEL)")
	logFormat := fs.String("log-format", env("LOG_FORMAT", "text"), "text or json (BERTH_LOG_FORMAT)")
	maxUploads := fs.Int("max-uploads", d.MaxUploads, "open upload sessions per registry (account × region); one more is refused with LimitExceededException (BERTH_MAX_UPLOADS)")
	iamConfig := fs.String("iam-config", env("IAM_CONFIG", ""), "YAML file of accounts (organization, OU path), users and roles with their access key ids, principal tags and identity policies; "+
		"a configured access key acts as its user or role on the ECR API and in the /v2 tokens issued to it. Without it every account's root, "+
		"chosen by a 12-digit access key id, is all there is. Repository and registry policies decide either way (BERTH_IAM_CONFIG)")
	bodyIdle := fs.Duration("body-idle-timeout", d.BodyIdleTimeout, "how long a request body may send nothing before the request fails and its connection closes (BERTH_BODY_IDLE_TIMEOUT)")
	verifyConfig := fs.String("verify-config", env("VERIFY_CONFIG", ""), "YAML file of signature verification rules: repository patterns, trusted keys and certificates (PEM), mode enforce or audit, and whether pulls are verified too; tag moves to images without a valid cosign or Notation signature are refused (enforce) or recorded (audit). PUT /_berth/verification replaces them and is kept across restarts in the data dir until this file's policy changes: the most recent choice wins (BERTH_VERIFY_CONFIG)")
	lifecycleInterval := fs.Duration("lifecycle-interval", d.LifecycleInterval, "how often every repository's lifecycle policy is enforced, besides after each push and policy change; 0 turns the periodic sweep off (BERTH_LIFECYCLE_INTERVAL)")
	ptcCredentials := fs.String("ptc-credentials", env("PTC_CREDENTIALS", ""), "YAML or JSON file mapping the credentialArn of pull-through cache rules to the upstream's username and accessToken, in place of Secrets Manager (BERTH_PTC_CREDENTIALS)")
	ptcRefresh := fs.Duration("ptc-refresh", d.PTCRefresh, "how long a tag pulled through the cache is served before a pull checks it upstream again; 0 checks on every pull (BERTH_PTC_REFRESH)")
	pluginsDir := fs.String("plugins-dir", env("PLUGINS_DIR", ""), "directory of scanner plugins (NAME.wasm beside its manifest NAME.json) to load besides the built-in ones; one named like a built-in replaces it, and one that fails to load is reported and skipped (BERTH_PLUGINS_DIR)")
	scanDB := fs.String("scan-db", env("SCAN_DB", ""), "directory of OSV advisories (berth scan-db fetch) that scans match packages against; indexed into the data dir at start. Without it scans complete without checking packages and say so (BERTH_SCAN_DB)")
	scanConfig := fs.String("scan-config", env("SCAN_CONFIG", ""), "YAML file choosing which scanner plugins scan which repositories (rules of repositories patterns and scanner names, first match wins); without it every scanner scans every image (BERTH_SCAN_CONFIG)")
	scanQuota := fs.Bool("scan-quota", envBool("SCAN_QUOTA"), "enforce ECR's one basic scan per image per 24 hours, scan on push included: a second StartImageScan answers LimitExceededException (BERTH_SCAN_QUOTA)")
	scanWorkers := fs.Int("scan-workers", server.DefaultScanWorkers, "how many image scans run at once; more wait their turn, never delaying a push (BERTH_SCAN_WORKERS)")
	if err := setFromEnv(fs, "max-uploads", "body-idle-timeout", "lifecycle-interval", "ptc-refresh", "scan-workers"); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		return err
	}
	if !core.ValidAccountID(*account) {
		return fmt.Errorf("--default-account must be 12 digits, got %q", *account)
	}
	if *uriStyle != "localhost" && *uriStyle != "ecr" && *uriStyle != "aws" {
		return fmt.Errorf("--uri-style must be localhost, ecr or aws, got %q", *uriStyle)
	}
	if *maxUploads < 1 {
		return fmt.Errorf("--max-uploads must be at least 1, got %d", *maxUploads)
	}
	if *lifecycleInterval < 0 {
		return fmt.Errorf("--lifecycle-interval must be 0 (off) or positive, got %v", *lifecycleInterval)
	}
	if *ptcRefresh < 0 {
		return fmt.Errorf("--ptc-refresh must be 0 (every pull) or positive, got %v", *ptcRefresh)
	}
	if *scanWorkers < 1 {
		return fmt.Errorf("--scan-workers must be at least 1, got %d", *scanWorkers)
	}
	if *bodyIdle <= 0 {
		return fmt.Errorf("--body-idle-timeout must be positive, got %v", *bodyIdle)
	}
	cfg := server.Config{Addr: *addr, DataDir: *dataDir, Memory: *memory, Region: *region, DefaultAccount: *account,
		NoAuth: *noAuth, CreateOnPush: *createOnPush, URIStyle: *uriStyle, Hostname: *hostname, NoAdmin: !*admin, Log: log,
		MaxUploads: *maxUploads, BodyIdleTimeout: *bodyIdle, IAMConfig: *iamConfig, LifecycleInterval: *lifecycleInterval,
		PTCCredentials: *ptcCredentials, PTCRefresh: *ptcRefresh, VerifyConfig: *verifyConfig,
		PluginsDir: *pluginsDir, ScanDB: *scanDB, ScanConfig: *scanConfig, ScanQuota: *scanQuota, ScanWorkers: *scanWorkers}
	// Stop signals are caught from before the server starts, so one that
	// arrives while berth starts or as soon as it announces its address shuts
	// it down cleanly rather than killing the process.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		// A small heap may grow by DefaultGCHeadroom between collections (see TuneGC);
		// the user's own GOGC or GOMEMLIMIT is left alone.
		defer server.TuneGC(server.DefaultGCHeadroom)()
	}
	defer signal.Stop(sig)
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		srv.Shutdown(context.Background())
		return err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	where := "data in " + cfg.DataDir
	if cfg.Memory {
		where = "in memory"
	}
	endpoint, everywhere := endpointOf(ln.Addr())
	ready := []any{"endpoint", endpoint, "state", where, "region", cfg.Region, "version", versionString()}
	if everywhere {
		ready = append(ready, "interfaces", "all")
	}
	log.Info("berth ready", ready...)
	fmt.Fprintf(stdout, "berth listening on %s\n", endpoint)
	if everywhere {
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		fmt.Fprintf(stdout, "berth listens on all interfaces: other machines reach it on this machine's addresses, port %s\n", port)
	}

	select {
	case err := <-done:
		srv.Shutdown(context.Background())
		return err
	case s := <-sig:
		log.Info("shutting down", "signal", s.String())
	}
	// In-flight requests get a bounded time to finish; then the stores close.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// endpointOf returns the URL to announce for a listener: its address, or,
// when it listens on every interface (0.0.0.0, :: or no host, which Go
// reports as [::]), the loopback address, which a client can dial where [::]
// is not an address at all.
func endpointOf(addr net.Addr) (endpoint string, everywhere bool) {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return "http://" + addr.String(), false
	}
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port)), true
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, got %q", format)
}

// token prints a password signed with the data dir's secret, valid 12 hours.
func token(args []string, stdout, stderr io.Writer) error {
	d := server.Defaults()
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", env("DATA_DIR", d.DataDir), "the data dir of the berth that will check the token (BERTH_DATA_DIR)")
	account := fs.String("account", env("DEFAULT_ACCOUNT", d.DefaultAccount), "account the token is for")
	region := fs.String("region", env("REGION", d.Region), "region the token is for")
	principal := fs.String("principal", "", "the principal the token acts as on /v2, e.g. arn:aws:iam::111111111111:user/alice of berth's --iam-config (default: the account's root; its account is the token's)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *principal != "" {
		owner := core.AccountOfPrincipal(*principal)
		if owner == "" {
			return fmt.Errorf("--principal %q is not an IAM or STS principal ARN (arn:aws:iam::ACCOUNT:user/NAME, ...)", *principal)
		}
		accountSet := false
		fs.Visit(func(f *flag.Flag) { accountSet = accountSet || f.Name == "account" })
		if accountSet && *account != owner {
			return fmt.Errorf("--principal %s is in account %s, not --account %s", *principal, owner, *account)
		}
		*account = owner
	}
	if !core.ValidAccountID(*account) {
		return fmt.Errorf("--account must be 12 digits, got %q", *account)
	}
	// Only berth serve creates the secret: one made here would sign a token
	// that no running berth accepts.
	secret, err := core.LoadSecret(*dataDir)
	if errors.Is(err, core.ErrNoSecret) {
		dir, _ := filepath.Abs(*dataDir)
		return fmt.Errorf("no token secret in %s (berth serve creates it in its data dir on first start): "+
			"point berth token at the data dir of the berth that will check the token with --data-dir or BERTH_DATA_DIR "+
			"(a berth started with --memory keeps none: use aws ecr get-login-password)", dir)
	}
	if err != nil {
		return err
	}
	tok, _ := core.NewTokens(secret, nil).Issue(core.TokenClaims{Registry: core.RegistryID{Account: *account, Region: *region}, Principal: *principal})
	fmt.Fprintln(stdout, tok)
	return nil
}
