package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// option is one setting of a subcommand's T: its flag, the environment
// variables that set it when the flag is absent (the first one set wins),
// its usage, and how to apply its text to a T. The option with a nil apply
// names the configuration file.
type option[T any] struct {
	flag  string
	env   []string
	usage string
	apply applier[T]
}

// setting is an option of mlgate serve's and resolve's Config.
type setting = option[Config]

// applier sets one option of a T from its text.
type applier[T any] interface {
	apply(c *T, v string) error
}

type applyFunc[T any] func(c *T, v string) error

func (f applyFunc[T]) apply(c *T, v string) error { return f(c, v) }

// boolApply is a boolean option: its flag takes no value (--pprof means
// --pprof=true).
type boolApply[T any] func(c *T, v string) error

func (f boolApply[T]) apply(c *T, v string) error { return f(c, v) }

// repeated is an option whose flag may be given several times; each
// occurrence is applied, in order.
type repeated[T any] func(c *T, v string) error

func (f repeated[T]) apply(c *T, v string) error { return f(c, v) }

func str[T any](p func(*T) *string) applier[T] {
	return applyFunc[T](func(c *T, v string) error { *p(c) = v; return nil })
}

func dur[T any](p func(*T) *time.Duration) applier[T] {
	return applyFunc[T](func(c *T, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration like 30s or 500ms", v)
		}
		*p(c) = d
		return nil
	})
}

func integer[T any](p func(*T) *int) applier[T] {
	return applyFunc[T](func(c *T, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		*p(c) = n
		return nil
	})
}

func int64s[T any](p func(*T) *int64) applier[T] {
	return applyFunc[T](func(c *T, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		*p(c) = n
		return nil
	})
}

func uint64s[T any](p func(*T) *uint64) applier[T] {
	return applyFunc[T](func(c *T, v string) error {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a non-negative integer", v)
		}
		*p(c) = n
		return nil
	})
}

func number[T any](p func(*T) *float64) applier[T] {
	return applyFunc[T](func(c *T, v string) error {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", v)
		}
		*p(c) = x
		return nil
	})
}

func boolean[T any](p func(*T) *bool) applier[T] {
	return boolApply[T](func(c *T, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		*p(c) = b
		return nil
	})
}

// list is a comma-separated list option; empty items are dropped.
func list[T any](p func(*T) *[]string) applier[T] {
	return applyFunc[T](func(c *T, v string) error {
		var out []string
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
		*p(c) = out
		return nil
	})
}

// options is how one subcommand reads its command line: its options, and
// what differs between subcommands. The zero value of each field selects
// its documented default.
type options[T any] struct {
	name string
	opts []option[T]
	// usage, when set, is printed above the flags for -h.
	usage string
	// source names where an environment value came from, in errors.
	// Nil: the variable's name.
	source func(flag, env string) string
	// readFile overlays the file named by the option with a nil apply.
	readFile func(c *T, path string) error
}

// flagsError is a command line the flag package refused; the flag package
// has printed it, and the usage, already.
type flagsError struct{ err error }

func (e *flagsError) Error() string { return e.err.Error() }
func (e *flagsError) Unwrap() error { return e.err }

// load builds a T from cfg (the defaults), the configuration file, the
// environment (getenv) and args, each overriding the one before, and
// returns it with the names of the options that were given, by flag or
// environment. Errors name the option at fault; -h returns flag.ErrHelp.
func (o options[T]) load(cfg T, args []string, getenv func(string) string, stderr io.Writer) (T, map[string]bool, error) {
	var zero T
	flags, err := o.parse(args, stderr)
	if err != nil {
		return zero, nil, err
	}
	given := map[string]bool{}
	for _, op := range o.opts { // the file first: the environment and flags override it
		if op.apply != nil || o.readFile == nil {
			continue
		}
		if vs, _, ok := o.values(op, flags, getenv); ok {
			given[op.flag] = true
			if err := o.readFile(&cfg, vs[len(vs)-1]); err != nil {
				return zero, nil, err
			}
		}
	}
	for _, op := range o.opts {
		if op.apply == nil {
			continue
		}
		vs, from, ok := o.values(op, flags, getenv)
		if !ok {
			continue
		}
		given[op.flag] = true
		for _, v := range vs {
			if err := op.apply.apply(&cfg, v); err != nil {
				return zero, nil, fmt.Errorf("%s: %w", from, err)
			}
		}
	}
	return cfg, given, nil
}

// parse reads args into one rawFlag per option, set only for the flags
// given.
func (o options[T]) parse(args []string, stderr io.Writer) (map[string]*rawFlag, error) {
	fs := flag.NewFlagSet(o.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if o.usage != "" {
		fs.Usage = func() {
			fmt.Fprint(stderr, o.usage)
			fs.PrintDefaults()
		}
	}
	raw := map[string]*rawFlag{}
	for _, op := range o.opts {
		_, isBool := op.apply.(boolApply[T])
		_, repeat := op.apply.(repeated[T])
		f := &rawFlag{isBool: isBool, repeat: repeat}
		raw[op.flag] = f
		fs.Var(f, op.flag, op.usage+" (env "+strings.Join(op.env, ", ")+")")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, &flagsError{err}
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	given := map[string]*rawFlag{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = raw[f.Name] })
	return given, nil
}

// values returns op's text (every occurrence of a repeated flag) and where
// it came from: its flag, else the first of its variables that is set.
func (o options[T]) values(op option[T], flags map[string]*rawFlag, getenv func(string) string) ([]string, string, bool) {
	if f := flags[op.flag]; f != nil {
		return f.vals, "--" + op.flag, true
	}
	for _, e := range op.env {
		if v := getenv(e); v != "" {
			if o.source != nil {
				return []string{v}, o.source(op.flag, e), true
			}
			return []string{v}, e, true
		}
	}
	return nil, "", false
}

// rawFlag keeps a flag's text for load to apply in precedence order.
// Boolean options are bool flags: a bare --pprof means --pprof=true.
type rawFlag struct {
	vals   []string
	isBool bool
	repeat bool
}

func (f *rawFlag) String() string {
	if len(f.vals) == 0 {
		return ""
	}
	return f.vals[len(f.vals)-1]
}

func (f *rawFlag) Set(v string) error {
	if f.repeat {
		f.vals = append(f.vals, v)
	} else {
		f.vals = []string{v}
	}
	return nil
}

func (f *rawFlag) IsBoolFlag() bool { return f.isBool }

// loadConfig builds mlgate serve's or resolve's configuration (name) from
// args, the environment (getenv) and the config file. Errors name the
// setting at fault.
func loadConfig(name string, settings []setting, args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	cfg, _, err := options[Config]{name: name, opts: settings, readFile: (*Config).readFile}.load(defaultConfig(), args, getenv, stderr)
	return cfg, err
}
