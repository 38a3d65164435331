import type { GuestRequest, Runtime } from '@vulcan/shared';
import { makeTarGz } from '../helpers/tarball.js';

/** The programs the smoke test runs, one set per runtime, all checking the same things. */
export interface Programs {
  hello: Partial<GuestRequest>;
  /** Upper-cases its stdin. */
  stdin: Partial<GuestRequest>;
  /** Prints $GREETING. */
  env: Partial<GuestRequest>;
  /** Exits with status 3. */
  exit3: Partial<GuestRequest>;
  /** Two lines on stderr: e1, e2. */
  stderr: Partial<GuestRequest>;
  /** Prints "<uid> <cwd>". */
  identity: Partial<GuestRequest>;
  /** Writes "via /dev/stdout" by reopening its stdout (works only on a pipe the agent made for it). */
  devStdout: Partial<GuestRequest>;
  /** Two files; prints "hello archive". */
  archive: Partial<GuestRequest>;
  /** Starts a sleeping grandchild, prints "started", then sleeps. */
  grandchild: Partial<GuestRequest>;
  /** Prints how many other processes the workload user has. */
  survivors: Partial<GuestRequest>;
  /** 200 000 lines of 100 bytes: 20 MB. */
  bigOutput: Partial<GuestRequest>;
  /** Prints forever. */
  chatty: Partial<GuestRequest>;
}

const python: Programs = {
  hello: { code: 'print("hello from python")\n' },
  stdin: { code: 'import sys\nprint(sys.stdin.read().strip().upper())\n' },
  env: { code: 'import os\nprint(os.environ["GREETING"])\n' },
  exit3: { code: 'import sys\nsys.exit(3)\n' },
  stderr: { code: 'import sys\nprint("e1", file=sys.stderr)\nprint("e2", file=sys.stderr)\n' },
  identity: { code: 'import os\nprint(os.getuid(), os.getcwd())\n' },
  devStdout: { code: 'open("/dev/stdout", "w").write("via /dev/stdout\\n")\n' },
  archive: {
    code_archive: makeTarGz([
      { path: 'helper.py', data: 'def greet():\n    return "hello archive"\n' },
      { path: 'main.py', data: 'import helper\nprint(helper.greet())\n' },
    ]),
  },
  grandchild: {
    code: 'import subprocess, time\nsubprocess.Popen(["sleep", "1000"])\nprint("started", flush=True)\ntime.sleep(1000)\n',
  },
  survivors: {
    code: [
      'import os',
      'me, n = os.getpid(), 0',
      'for p in os.listdir("/proc"):',
      '    if p.isdigit() and int(p) != me:',
      '        try:',
      '            if "\\nUid:\\t1000\\t" in open(f"/proc/{p}/status").read(): n += 1',
      '        except OSError: pass',
      'print(n)',
    ].join('\n'),
  },
  bigOutput: { code: 'import sys\nsys.stdout.write(("x" * 99 + "\\n") * 200000)\n' },
  chatty: { code: 'while True: print("y" * 1000)\n' },
};

const node: Programs = {
  hello: { code: 'console.log("hello from node")' },
  stdin: { code: 'let d="";process.stdin.on("data",c=>d+=c).on("end",()=>console.log(d.trim().toUpperCase()))' },
  env: { code: 'console.log(process.env.GREETING)' },
  exit3: { code: 'process.exit(3)' },
  stderr: { code: 'console.error("e1");console.error("e2")' },
  identity: { code: 'console.log(process.getuid(), process.cwd())' },
  devStdout: { code: 'require("fs").writeFileSync("/dev/stdout", "via /dev/stdout\\n")' },
  archive: {
    code_archive: makeTarGz([
      { path: 'helper.js', data: 'exports.greet = () => "hello archive";\n' },
      { path: 'index.js', data: 'console.log(require("./helper").greet());\n' },
    ]),
  },
  grandchild: {
    code: 'require("child_process").spawn("sleep",["1000"],{stdio:"ignore"});console.log("started");setInterval(()=>{},1000)',
  },
  survivors: {
    code: [
      'const fs=require("fs");let n=0;',
      'for(const p of fs.readdirSync("/proc")){if(!/^\\d+$/.test(p)||+p===process.pid)continue;',
      'try{if(fs.readFileSync("/proc/"+p+"/status","utf8").includes("\\nUid:\\t1000\\t"))n++}catch{}}',
      'console.log(n)',
    ].join(''),
  },
  bigOutput: { code: 'process.stdout.write(("x".repeat(99)+"\\n").repeat(200000))' },
  chatty: {
    code: 'const l="y".repeat(1000)+"\\n";(function w(){while(process.stdout.write(l));process.stdout.once("drain",w)})()',
  },
};

const goMain = (imports: string[], body: string): string =>
  `package main\n\nimport (\n${imports.map((i) => `\t"${i}"\n`).join('')})\n\nfunc main() {\n${body}\n}\n`;

const go: Programs = {
  hello: { code: goMain(['fmt'], '\tfmt.Println("hello from go")') },
  stdin: {
    code: goMain(
      ['fmt', 'io', 'os', 'strings'],
      '\tb, _ := io.ReadAll(os.Stdin)\n\tfmt.Println(strings.ToUpper(strings.TrimSpace(string(b))))',
    ),
  },
  env: { code: goMain(['fmt', 'os'], '\tfmt.Println(os.Getenv("GREETING"))') },
  exit3: { code: goMain(['os'], '\tos.Exit(3)') },
  stderr: { code: goMain(['fmt', 'os'], '\tfmt.Fprintln(os.Stderr, "e1")\n\tfmt.Fprintln(os.Stderr, "e2")') },
  identity: { code: goMain(['fmt', 'os'], '\twd, _ := os.Getwd()\n\tfmt.Println(os.Getuid(), wd)') },
  devStdout: {
    code: goMain(
      ['os'],
      '\tif err := os.WriteFile("/dev/stdout", []byte("via /dev/stdout\\n"), 0); err != nil {\n\t\tpanic(err)\n\t}',
    ),
  },
  archive: {
    code_archive: makeTarGz([
      { path: 'go.mod', data: 'module example.com/smoke\n\ngo 1.21\n' },
      { path: 'greet/greet.go', data: 'package greet\n\nfunc Hello() string { return "hello archive" }\n' },
      { path: 'main.go', data: goMain(['fmt', 'example.com/smoke/greet'], '\tfmt.Println(greet.Hello())') },
    ]),
  },
  grandchild: {
    code: goMain(
      ['fmt', 'os/exec', 'time'],
      '\t_ = exec.Command("sleep", "1000").Start()\n\tfmt.Println("started")\n\ttime.Sleep(time.Hour)',
    ),
  },
  survivors: {
    code: goMain(
      ['fmt', 'os', 'strconv', 'strings'],
      [
        '\tn := 0',
        '\tentries, _ := os.ReadDir("/proc")',
        '\tfor _, e := range entries {',
        '\t\tpid, err := strconv.Atoi(e.Name())',
        '\t\tif err != nil || pid == os.Getpid() {',
        '\t\t\tcontinue',
        '\t\t}',
        '\t\tif b, err := os.ReadFile("/proc/" + e.Name() + "/status"); err == nil && strings.Contains(string(b), "\\nUid:\\t1000\\t") {',
        '\t\t\tn++',
        '\t\t}',
        '\t}',
        '\tfmt.Println(n)',
      ].join('\n'),
    ),
  },
  bigOutput: {
    code: goMain(
      ['bufio', 'os', 'strings'],
      '\tw := bufio.NewWriter(os.Stdout)\n\tl := strings.Repeat("x", 99) + "\\n"\n\tfor i := 0; i < 200000; i++ {\n\t\tw.WriteString(l)\n\t}\n\tw.Flush()',
    ),
  },
  chatty: { code: goMain(['fmt', 'strings'], '\tl := strings.Repeat("y", 1000)\n\tfor {\n\t\tfmt.Println(l)\n\t}') },
};

export const PROGRAMS: Readonly<Record<Runtime, Programs>> = { python, node, go };
