#!/bin/sh
# Runs as root inside the guest (burrow-guest-check.service, from the 9p share at /mnt/burrow):
# creates an unprivileged user, installs the helpers setuid root into /opt/burrow/bin, and runs
# the checks named in /mnt/burrow/checks (all when it is empty) as that user inside its delegated
# user@UID.service. Prints `ok NAME` or `FAIL NAME: detail` for each check, into
# /mnt/burrow/results and the console; writes the number of failures to /mnt/burrow/status.
set -u
share=/mnt/burrow
prefix=/opt/burrow
user=burrowt
rootfs=/var/tmp/busybox-rootfs
# Two boots of the same image: systemd as PID 1 (burrow-guest-check.service runs this script),
# or, for the nosd-* checks, build.sh's /sbin/burrow-guest-noinit (kernel argument burrow.init=):
# no systemd, cgroup2 alone on /sys/fs/cgroup. Each boot has its own results and status files.
if [ -d /run/systemd/system ]; then
  boot=systemd sfx=
else
  boot=noinit sfx=.noinit
fi
# svc-reboot boots the same (copied, not snapshotted) disk twice: burrow.phase=reboot1 sets a
# container up to start at boot, burrow.phase=reboot2 finds it back.
phase=$(sed -n 's/.*burrow\.phase=\(reboot[12]\).*/\1/p' /proc/cmdline)
[ -z "$phase" ] || sfx=.$phase
results=$share/results$sfx
: >"$results"
failures=0
# The nosd-* checks reuse the cgroup checks of the systemd boot under their own names.
pfx=

say() { echo "$*" | tee -a "$results"; }
ok() { say "ok $pfx$1"; }
fail() {
  say "FAIL $pfx$1: $2"
  failures=$((failures + 1))
}
finish() {
  say "guest: done after $(cut -d' ' -f1 /proc/uptime) s of uptime, $failures failure(s)"
  echo "$failures" >"$share/status$sfx"
  sync
  [ "$failures" = 0 ]
  exit
}
# The first lines of a text, on one line, for a FAIL detail.
brief() { printf '%s' "$1" | head -c 1500 | tr '\n' '|'; }

say "guest: $(uname -r), $boot boot, checks started at $(cut -d' ' -f1 /proc/uptime) s of uptime"

# --- setup of the checks that use the build's binaries (a failure here fails everything: say
# what is stuck). Runs after the package checks (pkg-*), which must see no /opt/burrow. ---
uid=
B=$prefix/bin/burrow
main_setup() {
  # Without /etc/subuid and /etc/subgid useradd assigns no ranges: burrow admin add-user does.
  useradd -m -s /bin/sh "$user" || { fail setup "useradd $user failed"; finish; }
  : >/etc/subuid
  : >/etc/subgid
  uid=$(id -u "$user")
  mkdir -p "$prefix/bin"
  cp "$share/bin/burrow" "$share/bin/burrow-newuidmap" "$share/bin/burrow-newgidmap" "$share/bin/burrow-nic" "$prefix/bin/"
  chown root:root "$prefix/bin/"*
  chmod 0755 "$prefix/bin/burrow"
  chmod 4755 "$prefix/bin/burrow-newuidmap" "$prefix/bin/burrow-newgidmap" "$prefix/bin/burrow-nic"
  if ! cp -a "$share/rootfs" "$rootfs" || ! chown -R "$user:" "$rootfs"; then
    fail setup "copying the busybox rootfs to $rootfs failed"
    finish
  fi
  B=$prefix/bin/burrow
  # Every other check needs the user's ranges: add-user runs here, admin-add-user judges it.
  add_user_out=$("$B" admin add-user "$user" 2>&1)
  add_user_rc=$?
  [ "$boot" = systemd ] || return 0

  # The user's manager and its delegated cgroup (is-system-running says "starting" while this
  # unit runs: wait for the unit needed instead).
  timeout 120 systemctl start "user@$uid.service" || { fail setup "systemctl start user@$uid.service failed or took over 120 s: $(systemctl status "user@$uid.service" 2>&1 | tail -5 | tr '\n' '|')"; finish; }
  i=0
  until [ "$(systemctl is-active "user@$uid.service")" = active ]; do
    i=$((i + 1))
    [ $i -le 120 ] || { fail setup "user@$uid.service not active after 120 s"; finish; }
    sleep 1
  done
  say "guest: user@$uid.service active at $(cut -d' ' -f1 /proc/uptime) s of uptime"
}

# Runs "$@" as $user inside user@UID.service (runuser would land in a session scope outside
# it), with the helpers' directory; output on stdout, status as its own.
as_user() {
  timeout 300 systemd-run --machine="$user@.host" --user --wait --pipe --quiet \
    -E BURROW_HELPERS_DIR="$prefix/bin" "$@" </dev/null 2>&1
}
# The same for `burrow run -d`: its monitor stays in the transient unit's cgroup, which systemd
# would kill when burrow returns (KillMode=control-group); KillMode=process leaves it running.
as_user_detached() {
  timeout 300 systemd-run --machine="$user@.host" --user --wait --pipe --quiet -p KillMode=process \
    -E BURROW_HELPERS_DIR="$prefix/bin" "$@" </dev/null 2>&1
}
T0=0
start_timer() { T0=$(cut -d' ' -f1 /proc/uptime); }
took() { echo "$(cut -d' ' -f1 /proc/uptime) $T0" | awk '{printf "%.1f s", $1 - $2}'; }

wanted=$(cat "$share/checks" 2>/dev/null || true)
want() { [ -z "$wanted" ] || echo " $wanted " | grep -q " $1 "; }

# --- checks ---

check_admin_add_user() {
  out=$add_user_out
  rc=$add_user_rc
  # On a systemd host user@UID.service is the user's delegated cgroup: add-user must say so,
  # and must not make a tree of its own beside systemd's (systemd owns the hierarchy).
  sd=/sys/fs/cgroup/user.slice/user-$uid.slice/user@$uid.service
  if [ "$rc" != 0 ]; then
    fail admin-add-user "exit $rc: $(brief "$out")"
  elif ! grep -q "^$user:" /etc/subuid || ! grep -q "^$user:" /etc/subgid; then
    fail admin-add-user "no /etc/subuid or /etc/subgid line for $user: $(brief "$out")"
  elif ! printf '%s' "$out" | grep -q "user@$uid.service"; then
    fail admin-add-user "does not report systemd's delegation ($sd); it said: $(brief "$out")"
  elif [ -d /sys/fs/cgroup/burrow ]; then
    fail admin-add-user "made /sys/fs/cgroup/burrow beside systemd's tree although $sd is delegated; it said: $(brief "$out")"
  else
    ok admin-add-user
  fi
  say "  admin add-user said: $(brief "$out")"
  say "  admin check said: $(brief "$(BURROW_HELPERS_DIR=$prefix/bin "$B" admin check 2>&1 | grep -i "cgroup\\|helpers\\|FAIL")")"
}

check_doctor() {
  start_timer
  out=$(as_user "$B" doctor)
  rc=$?
  if [ "$rc" != 0 ]; then
    fail doctor "exit $rc: $(brief "$out")"
  elif printf '%s\n' "$out" | grep -q '^\[FAIL\]\|^\[warn\] limits'; then
    fail doctor "failures or limit warnings: $(brief "$(printf '%s\n' "$out" | grep '^\[FAIL\]\|^\[warn\]')")"
  elif [ "$boot" = systemd ] && printf '%s\n' "$out" | grep -i 'cgroup\|limits\|deleg' | grep -q 'add-user'; then
    fail doctor "suggests burrow admin add-user for cgroups although systemd delegates user@$uid.service: $(brief "$(printf '%s\n' "$out" | grep 'add-user')")"
  else
    missing=
    for l in '--memory' '--cpus/--cpu-weight' '--pids-limit'; do
      printf '%s\n' "$out" | grep -qF "limits: $l available" || missing="$missing $l"
    done
    if [ -n "$missing" ]; then
      fail doctor "does not report as available:$missing: $(brief "$out")"
    else
      ok "doctor ($(took))"
    fi
  fi
  say "  doctor said: $(brief "$(printf '%s\n' "$out" | grep -i 'cgroup\|limits\|systemd\|fail\|warn')")"
}

check_run_true() {
  start_timer
  out=$(as_user "$B" run --rm --name gtrue --rootfs "$rootfs" /bin/true)
  rc=$?
  if [ "$rc" = 0 ]; then ok "run-true ($(took))"; else fail run-true "exit $rc: $(brief "$out")"; fi
}

# The container's cgroup, found by name anywhere in the hierarchy (empty when gone).
cgroup_of() { find /sys/fs/cgroup -mindepth 1 -type d -name "$1" 2>/dev/null | head -1; }
# Where the user's containers must go: systemd's delegated user@UID.service, or without systemd
# the cgroup burrow admin add-user made (set by main_setup's caller).
cg_base=

check_memory_oom() {
  start_timer
  # The hog (a shell holding 64 MiB in a variable) runs below the container's pid 1, which
  # records its status and stays, so that stats and memory.events can be read.
  out=$(as_user_detached "$B" run -d --name ghog --memory 32m --memory-swap 32m --rootfs "$rootfs" -- \
    /bin/sh -c "sh -c 'x=\$(head -c 67108864 /dev/zero | tr \"\\\\0\" a)'; echo child=\$?; exec sleep 600")
  rc=$?
  if [ "$rc" != 0 ]; then
    fail memory-oom "run -d exit $rc: $(brief "$out"); ls: $(brief "$(as_user "$B" ls -a)"); logs: $(brief "$(as_user "$B" logs ghog)")"
    as_user "$B" rm -f ghog >/dev/null
    return
  fi
  i=0
  logs=
  while ! printf '%s' "$logs" | grep -q child=; do
    i=$((i + 1))
    if [ "$i" -gt 60 ]; then
      fail memory-oom "the hog did not end within 120 s; logs: $(brief "$logs")"
      as_user "$B" rm -f ghog >/dev/null
      return
    fi
    sleep 2
    logs=$(as_user "$B" logs ghog)
  done
  cg=$(cgroup_of ghog)
  events=$(cat "$cg/memory.events" 2>&1)
  stats=$(as_user "$B" stats ghog)
  detail="logs: $(brief "$logs"); $cg/memory.events: $(brief "$events"); stats: $(brief "$stats")"
  if ! printf '%s' "$logs" | grep -q 'child=137'; then
    fail memory-oom "the hog was not SIGKILLed (want child=137): $detail"
  elif [ -z "$cg" ] || ! printf '%s\n' "$events" | grep -Eq '^oom_kill [1-9]'; then
    fail memory-oom "no oom_kill in the container's memory.events: $detail"
  elif [ "${cg#"$cg_base"/}" = "$cg" ]; then
    fail memory-oom "the container's cgroup $cg is not below the user's delegated $cg_base: $detail"
  elif ! printf '%s\n' "$stats" | grep -Eq '^OOM_KILLS [1-9]'; then
    fail memory-oom "burrow stats shows no OOM kill: $detail"
  else
    ok "memory-oom ($(took)): $(brief "$(printf '%s\n' "$stats" | grep '^OOM_KILLS\|^MEMORY')")"
  fi
  out=$(as_user "$B" rm -f ghog)
  rc=$?
  cg=$(cgroup_of ghog)
  if [ "$rc" != 0 ]; then
    fail cgroup-removed "rm -f ghog exit $rc: $(brief "$out")"
  elif [ -n "$cg" ]; then
    fail cgroup-removed "$cg is still there after rm -f ghog"
  else
    ok cgroup-removed
  fi
}

check_pids_limit() {
  start_timer
  # 30 background sleeps under a limit of 10: forks fail; the shell then counts the tasks with
  # builtins only (once the limit is reached it could fork nothing).
  count='mkfifo /dev/shm/f; (seq 30 | xargs -P 30 -n 1 sleep 20) 2>/dev/null & read -t 8 x <> /dev/shm/f; set -- /proc/[0-9]*; echo $#'
  out=$(as_user "$B" run --rm --name gbomb --pids-limit 10 --rootfs "$rootfs" /bin/sh -c "$count")
  rc=$?
  n=$(printf '%s\n' "$out" | tail -1)
  case $n in '' | *[!0-9]*) n=999 ;; esac
  if [ "$n" -ge 3 ] && [ "$n" -le 10 ]; then
    ok "pids-limit ($(took)): $n tasks under pids.max 10"
  else
    fail pids-limit "pids.max 10 must cap the tasks, saw $n (exit $rc): $(brief "$out")"
  fi
  cg=$(cgroup_of gbomb)
  [ -z "$cg" ] || fail cgroup-removed "$cg is still there after run --rm"
}

check_cgroup_confined() {
  start_timer
  # A running container with limits: exec joins its cgroup (seen as the namespace root), and
  # after mounting its own cgroup2 the container cannot raise its limits (CVE-2023-25809 class).
  out=$(as_user_detached "$B" run -d --name glim --memory 64m --pids-limit 50 --rootfs "$rootfs" /bin/sleep 600)
  rc=$?
  if [ "$rc" != 0 ]; then
    fail cgroup-confined "run -d exit $rc: $(brief "$out")"
    as_user "$B" rm -f glim >/dev/null
    return
  fi
  cg=$(cgroup_of glim)
  # shellcheck disable=SC2016 # expanded by the container's shell
  in=$(as_user "$B" exec glim /bin/sh -c 'cat /proc/self/cgroup; mkdir -p /tmp/cg && mount -t cgroup2 none /tmp/cg && echo mounted; for f in memory.max pids.max; do [ -e /tmp/cg/$f ] && echo max >/tmp/cg/$f 2>/dev/null && echo raised $f; done; true')
  mem=$(cat "$cg/memory.max" 2>&1)
  pids=$(cat "$cg/pids.max" 2>&1)
  detail="cgroup $cg: memory.max $mem, pids.max $pids; inside: $(brief "$in")"
  if [ -z "$cg" ]; then
    fail cgroup-confined "no cgroup named glim: $(brief "$in")"
  elif [ "$mem" != 67108864 ] || [ "$pids" != 50 ]; then
    fail cgroup-confined "the limits are not (or no longer) 64 MiB and 50 tasks: $detail"
  elif ! printf '%s\n' "$in" | grep -qx '0::/'; then
    fail cgroup-confined "exec is not in the container's cgroup namespace root (want 0::/): $detail"
  else
    ok "cgroup-confined ($(took)): $detail"
  fi
  out=$(as_user "$B" rm -f glim)
  rc=$?
  cg=$(cgroup_of glim)
  if [ "$rc" != 0 ]; then
    fail cgroup-removed "rm -f glim exit $rc: $(brief "$out")"
  elif [ -n "$cg" ]; then
    fail cgroup-removed "$cg is still there after rm -f glim"
  fi
}

check_cpus_throttle() {
  start_timer
  # A busy loop under --cpus 0.2 for about 6 s: the container's cpu.stat must show throttling
  # and a use of at most about a fifth of a cpu (0.3 with TCG's noise).
  out=$(as_user_detached "$B" run -d --name gcpu --cpus 0.2 --rootfs "$rootfs" /bin/sh -c 'while :; do :; done')
  rc=$?
  if [ "$rc" != 0 ]; then
    fail cpus-throttle "run -d exit $rc: $(brief "$out")"
    as_user "$B" rm -f gcpu >/dev/null
    return
  fi
  cg=$(cgroup_of gcpu)
  max=$(cat "$cg/cpu.max" 2>&1)
  u0=$(awk '/^usage_usec/ {print $2}' "$cg/cpu.stat" 2>/dev/null)
  t0=$(cut -d' ' -f1 /proc/uptime)
  sleep 6
  u1=$(awk '/^usage_usec/ {print $2}' "$cg/cpu.stat" 2>/dev/null)
  t1=$(cut -d' ' -f1 /proc/uptime)
  thr=$(awk '/^nr_throttled/ {print $2}' "$cg/cpu.stat" 2>/dev/null)
  as_user "$B" rm -f gcpu >/dev/null
  used=$(echo "${u0:-0} ${u1:-0} $t0 $t1" | awk '{ printf "%.2f", ($2 - $1) / 1e6 / ($4 - $3) }')
  detail="cgroup $cg: cpu.max $max, nr_throttled ${thr:-?}, $used cpu over $(echo "$t0 $t1" | awk '{printf "%.1f", $2 - $1}') s"
  if [ -z "$cg" ] || [ "$max" != "20000 100000" ]; then
    fail cpus-throttle "cpu.max is not 20000 100000: $detail"
  elif [ -z "$thr" ] || [ "$thr" -lt 1 ]; then
    fail cpus-throttle "never throttled: $detail"
  elif ! echo "$used" | awk '{ exit !($1 > 0.05 && $1 <= 0.3) }'; then
    fail cpus-throttle "the loop used $used cpu, not about 0.2: $detail"
  else
    ok "cpus-throttle ($(took)): $detail"
  fi
}

check_net_bridge() {
  start_timer
  # --net bridge on the per-user bridge admin add-user allowed: burrow-nic makes the veth and
  # the bridge, the container gets eth0, an address and a default route, and reaches the
  # gateway (the bridge's address on the host). The address pool is the admin's choice
  # (packaging/etc/nic.conf.example's).
  install -d -o root -g root -m 0755 /etc/burrow
  [ -e /etc/burrow/nic.conf ] || printf 'ipv4 10.77.0.0/16 24\n' >/etc/burrow/nic.conf
  # shellcheck disable=SC2016 # expanded by the container's shell
  probe='ip -4 -o addr show eth0 | awk "{print \$4}"; gw=$(ip route | awk "/^default/ {print \$3}"); echo gw=$gw; ping -c 1 -W 10 "$gw" >/dev/null && echo reached'
  out=$(as_user "$B" run --rm --name gnet --net bridge --rootfs "$rootfs" /bin/sh -c "$probe")
  rc=$?
  host=$(ip -4 -o addr show | grep burrow | awk '{print $2, $4}' | tr '\n' ' ')
  if [ "$rc" != 0 ] || ! printf '%s\n' "$out" | grep -qx reached; then
    fail net-bridge "exit $rc: $(brief "$out"); host bridges: $host; modules: $(lsmod 2>/dev/null | grep -E '^(veth|bridge) ' | tr '\n' ' ')"
  else
    ok "net-bridge ($(took)): $(brief "$out"); host: $host"
  fi
}

check_apparmor() {
  start_timer
  # burrow's profile (packaging/apparmor/burrow-default, loaded here as the package's postinst
  # would): containers enter it by default once it is loaded, and it denies what the
  # container's root could otherwise do in its own namespaces (a tmpfs mount here).
  en=$(cat /sys/module/apparmor/parameters/enabled 2>&1)
  [ "$en" = Y ] || { fail apparmor "AppArmor is not enabled in the guest (enabled: $en)"; return; }
  # The package checks (same boot) may leave the packaged profile loaded: start without it.
  apparmor_parser -R "$share/apparmor/burrow-default" >/dev/null 2>&1 || true
  before=$(as_user "$B" doctor | grep -i apparmor)
  out=$(apparmor_parser -r "$share/apparmor/burrow-default" 2>&1) \
    || { fail apparmor "apparmor_parser -r burrow-default: $(brief "$out")"; return; }
  after=$(as_user "$B" doctor | grep -i apparmor)
  label=$(as_user "$B" run --rm --rootfs "$rootfs" /bin/cat /proc/self/attr/current)
  # shellcheck disable=SC2016 # expanded by the container's shell
  try_mount='mkdir -p /tmp/m; mount -t tmpfs none /tmp/m && echo mounted || echo refused'
  denied=$(as_user "$B" run --rm --rootfs "$rootfs" /bin/sh -c "$try_mount")
  allowed=$(as_user "$B" run --rm --security-opt apparmor=unconfined --rootfs "$rootfs" /bin/sh -c "$try_mount")
  audit=$({ dmesg; journalctl -b --no-pager; } 2>/dev/null | grep 'apparmor="DENIED"' | grep 'operation="mount"' | grep 'profile="burrow-default"' | tail -1)
  nosuch=$(as_user "$B" run --rm --security-opt apparmor=burrow-nosuch --rootfs "$rootfs" /bin/true)
  nosuch_rc=$?
  as_user_detached "$B" run -d --name gaa --init --rootfs "$rootfs" /bin/sleep 600 >/dev/null
  insp=$(as_user "$B" inspect gaa | grep -i apparmor)
  exec_label=$(as_user "$B" exec gaa /bin/cat /proc/self/attr/current)
  as_user "$B" rm -f gaa >/dev/null
  detail="doctor before: $(brief "$before"); after: $(brief "$after"); label: $label; denied: $denied; unconfined: $allowed; audit: $(brief "$audit"); nosuch (exit $nosuch_rc): $(brief "$nosuch"); inspect: $(brief "$insp"); exec: $exec_label"
  if ! printf '%s' "$before" | grep -q 'not loaded' || ! printf '%s' "$after" | grep -q '^\[ok\]'; then
    fail apparmor "doctor does not tell the profile's state (warn before loading, ok after): $detail"
  elif [ "$label" != "burrow-default (enforce)" ] || [ "$exec_label" != "burrow-default (enforce)" ]; then
    fail apparmor "the container (or exec) is not under burrow-default: $detail"
  elif ! printf '%s' "$denied" | grep -q 'Permission denied' || [ "$(printf '%s' "$denied" | tail -1)" != refused ] || [ "$allowed" != mounted ]; then
    fail apparmor "the mount must be refused under the profile and allowed with apparmor=unconfined: $detail"
  elif [ -z "$audit" ]; then
    fail apparmor "no apparmor=\"DENIED\" mount line of burrow-default in the kernel log: $detail"
  elif [ "$nosuch_rc" = 0 ] || ! printf '%s' "$nosuch" | grep -q 'burrow-nosuch is not loaded'; then
    fail apparmor "an unknown profile must be refused naming it: $detail"
  elif ! printf '%s' "$insp" | grep -q 'burrow-default (enforce)'; then
    fail apparmor "inspect does not show the profile: $detail"
  else
    ok "apparmor ($(took))"
  fi
  say "  apparmor: $detail"
}

check_run_image() {
  start_timer
  # The image overlay on the guest's kernel (6.1, older than the tmpfs user xattrs of 6.6, so a
  # foreground run's upper goes to disk): a directory imported as an image, run in the
  # foreground and detached, its root an overlayfs mounted in the container's user namespace
  # (never the flattened fallback, which would print a warning), writes kept in the upper.
  local out fg probe dt
  out=$(as_user "$B" image import --name gimg:1 "$rootfs") || { fail run-image "image import: $(brief "$out")"; return; }
  # shellcheck disable=SC2016 # expanded by the container's shell
  probe='awk "\$5 == \"/\" { for (i = 7; i <= NF; i++) if (\$i == \"-\") { print \$(i + 1); exit } }" /proc/self/mountinfo; echo hi >/etc/written && cat /etc/written'
  fg=$(as_user "$B" run --rm gimg:1 /bin/sh -c "$probe")
  rc=$?
  if [ "$rc" != 0 ] || [ "$(printf '%s\n' "$fg" | head -1)" != overlay ] || ! printf '%s\n' "$fg" | grep -qx hi || printf '%s\n' "$fg" | grep -qi 'warning'; then
    fail run-image "foreground run: exit $rc: $(brief "$fg")"
    return
  fi
  out=$(as_user_detached "$B" run -d --name gimgd gimg:1 /bin/sleep 1000) || { fail run-image "run -d: $(brief "$out")"; return; }
  dt=$(as_user "$B" inspect gimgd)
  as_user "$B" rm -f gimgd >/dev/null
  out=$(as_user "$B" rmi gimg:1 2>&1) || { fail run-image "rmi: $(brief "$out")"; return; }
  if ! printf '%s\n' "$dt" | grep -q '"root": *"overlay"'; then
    fail run-image "detached container's root is not overlay: $(brief "$dt")"
  else
    ok "run-image ($(took)): foreground root $(printf '%s\n' "$fg" | head -1), detached root overlay"
  fi
}

# The body of http://ADDR:PORT/ (HTTP/1.0, at most 5 s).
http_body() {
  timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/$2" && printf "GET / HTTP/1.0\r\n\r\n" >&3 && sed "1,/^\r*$/d" <&3' - "$1" "$2" 2>&1
}

check_svc_unit() {
  start_timer
  # Start at boot (issue 14): lingering and a port grant through admin add-user --linger
  # --ports, a unit from `burrow generate systemd` for a container on the per-user bridge that
  # publishes port 8080 (kernel DNAT by burrow-nic), enabled; the user's manager restarts (as
  # at boot, with no login) and the container comes back under it and serves its published
  # port again, at 127.0.0.1 and at the guest's own address; a `burrow stop` is not undone by
  # systemd and takes the port's rules away.
  local out unitdir st pid1 pid2 i addr got
  install -d -o root -g root -m 0755 /etc/burrow
  [ -e /etc/burrow/nic.conf ] || printf 'ipv4 10.77.0.0/16 24\n' >/etc/burrow/nic.conf
  out=$("$B" admin add-user "$user" --linger --ports 8080 2>&1) || { fail svc-unit "admin add-user --linger --ports 8080: $(brief "$out")"; return; }
  out=$(loginctl show-user "$user" -p Linger 2>&1)
  [ "$out" = Linger=yes ] || { fail svc-unit "lingering is not on after add-user --linger: $(brief "$out")"; return; }
  mkdir -p "$rootfs/www" && echo "served by gsvc" >"$rootfs/www/index.html"
  out=$(as_user "$B" create --name gsvc --net bridge -p 8080:80 --rootfs "$rootfs" /bin/busybox httpd -f -p 80 -h /www 2>&1) || { fail svc-unit "create: $(brief "$out")"; return; }
  unitdir=/home/$user/.config/systemd/user
  out=$(as_user /bin/sh -c "mkdir -p $unitdir && cd $unitdir && $B generate systemd --files gsvc && systemctl --user daemon-reload && systemctl --user enable --now container-gsvc.service") \
    || { fail svc-unit "generate/enable: $(brief "$out"); unit: $(brief "$(cat "$unitdir/container-gsvc.service" 2>&1)")"; return; }
  st=$(as_user systemctl --user is-active container-gsvc.service)
  pid1=$(as_user systemctl --user show -p MainPID --value container-gsvc.service)
  out=$(as_user "$B" ls)
  if [ "$st" != active ] || ! printf '%s\n' "$out" | grep -q '^gsvc .*running'; then
    fail svc-unit "after enable --now: unit $st, ls: $(brief "$out"); $(brief "$(as_user journalctl --user -u container-gsvc.service --no-pager 2>&1 | tail -15)")"
    return
  fi
  # The manager goes away and comes back, as at boot: only lingering and the enabled unit
  # bring the container back.
  systemctl restart "user@$uid.service" || { fail svc-unit "systemctl restart user@$uid.service failed"; return; }
  i=0
  while :; do
    st=$(as_user systemctl --user is-active container-gsvc.service)
    out=$(as_user "$B" ls)
    [ "$st" = active ] && printf '%s\n' "$out" | grep -q '^gsvc .*running' && break
    i=$((i + 1))
    [ $i -le 120 ] || { fail svc-unit "not back 120 s after the manager restarted: unit $st, ls: $(brief "$out")"; return; }
    sleep 1
  done
  pid2=$(as_user systemctl --user show -p MainPID --value container-gsvc.service)
  [ "$pid2" != "$pid1" ] && [ "$pid2" != 0 ] || { fail svc-unit "same or no main pid after the restart ($pid1, $pid2)"; return; }
  # The published port, served again (httpd may take a moment to listen).
  # (The guest's first address that is not loopback: with no uplink, the bridge's. The
  # client is bash's /dev/tcp: busybox-static's wget crashes in its static resolver.)
  addr=$(ip -4 -o addr show | awk '$2 != "lo" { sub(/\/.*/, "", $4); print $4; exit }')
  bad=
  for a in 127.0.0.1 $addr; do
    i=0
    until got=$(http_body "$a" 8080) && [ "$got" = "served by gsvc" ]; do
      i=$((i + 1))
      [ $i -le 20 ] || { bad="$bad at $a: $(brief "$got");"; break; }
      sleep 0.5
    done
  done
  if [ -n "$bad" ]; then
    fail svc-unit "port 8080 after the restart:$bad listening inside: $(brief "$(as_user "$B" exec gsvc /bin/busybox netstat -ltn 2>&1)"); logs: $(brief "$(as_user "$B" logs gsvc 2>&1 | tail -5)"); route_localnet: $(cat /proc/sys/net/ipv4/conf/burrow$uid/route_localnet 2>&1); rules: $(brief "$(nft list table ip burrow_ports 2>&1)")"
    return
  fi
  out=$(as_user "$B" stop gsvc 2>&1) || { fail svc-unit "burrow stop: $(brief "$out")"; return; }
  sleep 3
  st=$(as_user systemctl --user is-active container-gsvc.service)
  out=$(as_user "$B" ls -a)
  if [ "$st" = active ] || printf '%s\n' "$out" | grep -q '^gsvc .*running'; then
    fail svc-unit "burrow stop was undone: unit $st, ls: $(brief "$out")"
  elif nft list table ip burrow_ports 2>/dev/null | grep -q 'dport 8080'; then
    fail svc-unit "the port's rules outlived burrow stop: $(brief "$(nft list table ip burrow_ports 2>&1)")"
  else
    ok "svc-unit ($(took)): came back after the user manager restarted (main pid $pid1 -> $pid2) and served port 8080 at 127.0.0.1 and $addr, stop kept (unit $st) and took the rules"
  fi
  as_user /bin/sh -c "systemctl --user disable --now container-gsvc.service; rm -f $unitdir/container-gsvc.service; $B rm -f gsvc" >/dev/null 2>&1
  loginctl disable-linger "$user" >/dev/null 2>&1
}

check_svc_reboot_before() {
  start_timer
  # Start at boot for real (issue 13/14), first boot: lingering and a port grant, a unit for a
  # busybox httpd on the per-user bridge publishing port 8081, enabled and serving; then this
  # boot powers off and the same disk boots again (check_svc_reboot_after).
  local out unitdir got
  install -d -o root -g root -m 0755 /etc/burrow
  [ -e /etc/burrow/nic.conf ] || printf 'ipv4 10.77.0.0/16 24\n' >/etc/burrow/nic.conf
  out=$("$B" admin add-user "$user" --linger --ports 8081 2>&1) || { fail svc-reboot "admin add-user --linger --ports 8081: $(brief "$out")"; return; }
  mkdir -p "$rootfs/www" && echo "served by gboot" >"$rootfs/www/index.html"
  out=$(as_user "$B" create --name gboot --net bridge -p 8081:80 --rootfs "$rootfs" /bin/busybox httpd -f -p 80 -h /www 2>&1) || { fail svc-reboot "create: $(brief "$out")"; return; }
  unitdir=/home/$user/.config/systemd/user
  out=$(as_user /bin/sh -c "mkdir -p $unitdir && cd $unitdir && $B generate systemd --files gboot && systemctl --user daemon-reload && systemctl --user enable --now container-gboot.service") \
    || { fail svc-reboot "generate/enable: $(brief "$out")"; return; }
  got=$(http_body 127.0.0.1 8081)
  if [ "$got" != "served by gboot" ]; then
    fail svc-reboot "before the reboot, port 8081 at 127.0.0.1: $(brief "$got")"
    return
  fi
  sync
  ok "svc-reboot, first boot ($(took)): container-gboot.service enabled with lingering, port 8081 served; powering off"
}

check_svc_reboot_after() {
  start_timer
  # Second boot of the same disk: nobody logs in; lingering starts the user's manager, which
  # starts the enabled unit, and the container serves its published port again.
  local st out got i=0
  uid=$(id -u "$user") || { fail svc-reboot "no user $user on the rebooted disk"; return; }
  B=$prefix/bin/burrow
  until [ "$(systemctl is-active "user@$uid.service")" = active ]; do
    i=$((i + 1))
    [ $i -le 120 ] || { fail svc-reboot "user@$uid.service (lingering) not active 120 s after the checks started: $(brief "$(loginctl show-user "$user" 2>&1)")"; return; }
    sleep 1
  done
  i=0
  until got=$(http_body 127.0.0.1 8081) && [ "$got" = "served by gboot" ]; do
    i=$((i + 1))
    if [ $i -gt 240 ]; then
      st=$(as_user systemctl --user is-active container-gboot.service)
      out=$(as_user "$B" ls -a 2>&1)
      fail svc-reboot "after the reboot, port 8081 at 127.0.0.1: $(brief "$got"); unit $st; ls: $(brief "$out"); $(brief "$(as_user journalctl --user -u container-gboot.service --no-pager 2>&1 | tail -15)"); rules: $(brief "$(nft list table ip burrow_ports 2>&1)")"
      return
    fi
    sleep 0.5
  done
  out=$(as_user "$B" stop gboot 2>&1) || { fail svc-reboot "burrow stop after the reboot: $(brief "$out")"; return; }
  if nft list table ip burrow_ports 2>/dev/null | grep -q 'dport 8081'; then
    fail svc-reboot "the port's rules outlived burrow stop after the reboot: $(brief "$(nft list table ip burrow_ports 2>&1)")"
  else
    ok "svc-reboot ($(took) after the checks started, $(cut -d' ' -f1 /proc/uptime) s of uptime): after a reboot with no login, lingering started container-gboot.service and port 8081 was served at 127.0.0.1; stop took the rules"
  fi
}

check_doctor_undelegated() {
  start_timer
  # Delegation off for cpu (Delegate=pids for user@.service; systemd 252's user manager cannot
  # start at all with Delegate=no: it must create its init.scope): doctor must say which limits
  # are unavailable, and that Delegate= is what is missing. Changes the host: runs last.
  mkdir -p /etc/systemd/system/user@.service.d
  printf '[Service]\nDelegate=\nDelegate=pids\n' >/etc/systemd/system/user@.service.d/zz-burrow-guest-undelegate.conf
  systemctl daemon-reload
  timeout 120 systemctl stop "user@$uid.service"
  if ! timeout 120 systemctl start "user@$uid.service"; then
    fail doctor-undelegated "systemctl start user@$uid.service with Delegate=pids failed or took over 120 s: $(brief "$(journalctl -b -u "user@$uid.service" --no-pager 2>&1 | tail -8)")"
    return
  fi
  # What the user's cgroup offers: memory may stay there with Delegate=pids (systemd enables it
  # for its own memory accounting); the controllers missing are the ones doctor must name.
  ctl=$(cat "/sys/fs/cgroup/user.slice/user-$uid.slice/user@$uid.service/cgroup.controllers" 2>&1)
  out=$(as_user "$B" doctor)
  rc=$?
  warns=$(printf '%s\n' "$out" | grep '^\[warn\] limits\|^\[FAIL\] limits')
  bad=
  missing=0
  for pair in memory:--memory cpu:--cpus/--cpu-weight pids:--pids-limit; do
    c=${pair%%:*}
    flag=${pair#*:}
    if echo " $ctl " | grep -q " $c "; then
      printf '%s\n' "$out" | grep -qF "limits: $flag available" || bad="$bad $flag should be available;"
    else
      missing=$((missing + 1))
      printf '%s\n' "$warns" | grep -F "limits: $flag not available" | grep -qF 'Delegate=' \
        || bad="$bad $flag should be unavailable with the Delegate= fix;"
    fi
  done
  if printf '%s\n' "$warns" | grep -q 'add-user'; then
    bad="$bad suggests burrow admin add-user, which creates nothing under systemd (only Delegate= helps);"
  fi
  if [ "$missing" = 0 ]; then
    fail doctor-undelegated "Delegate=pids left every controller in user@$uid.service ($ctl): nothing to check"
  elif [ -n "$bad" ]; then
    fail doctor-undelegated "with user@$uid.service offering '$ctl', doctor (exit $rc):$bad $(brief "$out")"
  else
    ok "doctor-undelegated ($(took))"
  fi
  say "  doctor said (user@$uid.service offering '$ctl'): $(brief "$warns")"
}

# --- the distribution packages (scripts/build-packages.sh): run.sh puts the .debs of this
# version in $share/pkg/v1 and those of a later version (build-packages.sh --version) in
# $share/pkg/v2. They run before main_setup, as root, on a system where nothing of burrow is
# installed; each one brings the state it needs about (installs v1 if nothing is installed), so
# each can run alone. A new user, burrowp, is made after the install. ---
puser=burrowp
pdebs=/var/tmp/burrow-debs
# What a purge must leave as it was: every path under these, before the first install.
pkg_snapshot() { find /usr /etc /var/lib /lib/systemd /var/cache/apparmor 2>/dev/null | LC_ALL=C sort; }
# Paths that change between the snapshots for reasons other than the package, each named:
# shadow's files, backups and lock (the check creates /etc/subuid and /etc/subgid before useradd,
# and useradd keeps a backup of what it edits), dpkg's and apt's own databases (entries of
# burrow* under /var/lib/dpkg are not excluded), systemd's state of the user manager started for
# burrowp (linger dir, user@ state), and ld.so's cache.
pkg_unrelated='^/etc/(passwd|group|shadow|gshadow|subuid|subgid)-?$|^/etc/\.pwd\.lock$|^/var/lib/dpkg/(status|status-old|available|available-old|lock|lock-frontend|triggers/.*|diversions(-old)?|statoverride(-old)?|updates/.*|info/format)$|^/var/lib/apt/|^/var/lib/systemd/(linger|timers|catalog|coredump|random-seed|deb-systemd-user-helper-enabled)(/.*)?$|^/etc/ld.so.cache$'
pkg_v() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null; }
# shellcheck disable=SC2012 # names made by dpkg-buildpackage: no spaces
pkg_debs() { ls "$share/pkg/$1"/burrow_*.deb "$share/pkg/$1"/burrow-helpers_*.deb 2>/dev/null | sed "s|.*/|$pdebs/$1/|"; }
# apt-get install of the two .debs of v1 or v2 (copied off the 9p share, so that apt's _apt user
# can read them); output in $pout, status as its own. The guest has no network: the packages'
# dependencies must already be there.
pkg_apt() {
  mkdir -p "$pdebs/$1"
  cp "$share/pkg/$1"/*.deb "$pdebs/$1/" && chmod 0644 "$pdebs/$1"/*.deb
  # shellcheck disable=SC2046 # one argument per .deb
  pout=$(DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y $(pkg_debs "$1") </dev/null 2>&1)
}
pkg_ensure_installed() {
  [ -n "$(pkg_v burrow-helpers)" ] && [ "$(dpkg-query -W -f='${Status}' burrow 2>/dev/null)" = "install ok installed" ] && return 0
  pkg_apt v1 || { fail "$1" "installing v1 first failed: $(brief "$pout")"; return 1; }
}
# burrowp: created after the packages are installed, with ranges from useradd itself (shadow
# assigns them only when /etc/subuid and /etc/subgid exist), and its user manager running.
pkg_user() {
  if ! id "$puser" >/dev/null 2>&1; then
    [ -e /etc/subuid ] || : >/etc/subuid
    [ -e /etc/subgid ] || : >/etc/subgid
    useradd -m -s /bin/sh "$puser" || return 1
  fi
  puid=$(id -u "$puser")
  timeout 120 systemctl start "user@$puid.service" || return 1
  i=0
  until [ "$(systemctl is-active "user@$puid.service")" = active ]; do
    i=$((i + 1))
    [ $i -le 120 ] || return 1
    sleep 1
  done
}
# Runs "$@" as burrowp in its user@UID.service with the user manager's environment only: no
# BURROW_HELPERS_DIR, no build tree.
as_puser() {
  timeout 300 systemd-run --machine="$puser@.host" --user --wait --pipe --quiet "$@" </dev/null 2>&1
}

check_pkg_install() {
  start_timer
  if [ -n "$(pkg_v burrow-helpers)" ]; then
    fail pkg-install "burrow-helpers $(pkg_v burrow-helpers) is already installed"
    return
  fi
  v1=$(dpkg-deb -f "$(ls "$share"/pkg/v1/burrow_*.deb)" Version)
  if ! pkg_apt v1; then
    fail pkg-install "apt-get install $(pkg_debs v1 | tr '\n' ' ')failed: $(brief "$pout")"
    return
  fi
  bad=
  for p in burrow burrow-helpers; do
    [ "$(pkg_v $p)" = "$v1" ] || bad="$bad $p is '$(pkg_v $p)', not $v1;"
  done
  for f in /usr/bin/burrow-newuidmap /usr/bin/burrow-newgidmap /usr/bin/burrow-nic; do
    [ "$(stat -c '%a %U:%G' "$f" 2>&1)" = "4755 root:root" ] || bad="$bad $f is $(stat -c '%a %U:%G' "$f" 2>&1), not setuid root;"
  done
  for f in /usr/bin/burrow /usr/share/man/man1/burrow-run.1.gz /usr/share/man/man5/burrow.toml.5.gz \
    /usr/share/man/man1/burrow-nic.1.gz /usr/share/bash-completion/completions/burrow \
    /usr/share/zsh/vendor-completions/_burrow /usr/share/fish/vendor_completions.d/burrow.fish \
    /usr/libexec/burrow/burrow-nic-nat /lib/systemd/system/burrow-nic-nat.service /etc/burrow/usernet; do
    [ -e "$f" ] || bad="$bad no $f;"
  done
  grep -qx /etc/burrow/usernet /var/lib/dpkg/info/burrow-helpers.conffiles 2>/dev/null || bad="$bad /etc/burrow/usernet is not a conffile;"
  # Shipped disabled and stopped (the administrator opts in to NAT).
  en=$(systemctl is-enabled burrow-nic-nat.service 2>&1)
  act=$(systemctl is-active burrow-nic-nat.service 2>&1)
  [ "$en" = disabled ] && [ "$act" = inactive ] || bad="$bad burrow-nic-nat.service is $en/$act, not disabled/inactive;"
  ver=$(/usr/bin/burrow --version 2>&1) || bad="$bad burrow --version: $ver;"
  # The AppArmor profile: a conffile in /etc/apparmor.d, loaded by the postinst; the front end's
  # profile for userns-restricting hosts shipped in /usr/share/burrow/apparmor.
  [ -e /etc/apparmor.d/burrow-default ] || bad="$bad no /etc/apparmor.d/burrow-default;"
  grep -qx /etc/apparmor.d/burrow-default /var/lib/dpkg/info/burrow.conffiles 2>/dev/null || bad="$bad /etc/apparmor.d/burrow-default is not a conffile;"
  [ -e /usr/share/burrow/apparmor/burrow ] || bad="$bad no /usr/share/burrow/apparmor/burrow;"
  grep -q '^burrow-default ' /sys/kernel/security/apparmor/profiles 2>/dev/null \
    || bad="$bad the postinst did not load burrow-default ($(brief "$(grep burrow /sys/kernel/security/apparmor/profiles 2>&1)"));"
  # AppArmor off (an aa-enabled that says no), or the parser missing (only aa-enabled on PATH),
  # or neither tool: the postinst loads nothing and succeeds. Then the real run loads it again.
  apparmor_parser -R /etc/apparmor.d/burrow-default >/dev/null 2>&1
  mkdir -p /root/aa-off /root/aa-on
  printf '#!/bin/sh\nexit 1\n' >/root/aa-off/aa-enabled && chmod 755 /root/aa-off/aa-enabled
  ln -sf "$(command -v aa-enabled)" /root/aa-on/aa-enabled
  for p in /root/aa-off:/usr/sbin:/usr/bin:/sbin:/bin /root/aa-on:/usr/bin:/bin /nonexistent; do
    o=$(PATH=$p /bin/sh /var/lib/dpkg/info/burrow.postinst configure 2>&1) || bad="$bad the postinst failed with PATH=$p: $(brief "$o");"
    ! grep -q '^burrow-default ' /sys/kernel/security/apparmor/profiles || bad="$bad the postinst loaded burrow-default with PATH=$p;"
  done
  o=$(/bin/sh /var/lib/dpkg/info/burrow.postinst configure 2>&1) || bad="$bad the postinst failed: $(brief "$o");"
  grep -q '^burrow-default ' /sys/kernel/security/apparmor/profiles || bad="$bad the postinst did not load burrow-default again;"
  rm -rf /root/aa-off /root/aa-on
  if [ -n "$bad" ]; then
    fail pkg-install "$bad apt said: $(brief "$(printf '%s\n' "$pout" | tail -8)")"
  else
    ok "pkg-install ($(took)): burrow and burrow-helpers $v1 ($ver)"
  fi
}

check_pkg_run() {
  start_timer
  pkg_ensure_installed pkg-run || return
  if [ -e "$prefix" ]; then
    fail pkg-run "$prefix exists: the check must use only the packaged files"
    return
  fi
  if ! pkg_user; then
    fail pkg-run "useradd $puser or starting user@.service failed"
    return
  fi
  if ! grep -q "^$puser:" /etc/subuid || ! grep -q "^$puser:" /etc/subgid; then
    fail pkg-run "useradd gave $puser no ranges in /etc/subuid and /etc/subgid"
    return
  fi
  range=$(grep "^$puser:" /etc/subuid | head -1 | cut -d: -f2)
  home=$(getent passwd "$puser" | cut -d: -f6)
  rm -rf "$home/rootfs"
  cp -a "$share/rootfs" "$home/rootfs" && chown -R "$puser:" "$home/rootfs"
  # The user manager's PATH and no BURROW_HELPERS_DIR: the packaged burrow finds the packaged
  # helpers (/usr/bin, fixed at build time). A full map (root, then the subordinate range) is
  # only written by the setuid helpers.
  # shellcheck disable=SC2016 # expanded by the container's shell
  # The package's AppArmor profile (loaded by its postinst) confines the container.
  out=$(as_puser /usr/bin/burrow run --rm --rootfs "$home/rootfs" /bin/sh -c 'echo uid=$(id -u); cat /proc/self/uid_map /proc/self/gid_map; echo "label=$(cat /proc/self/attr/current)"')
  rc=$?
  if [ "$rc" != 0 ]; then
    fail pkg-run "burrow run as $puser: exit $rc: $(brief "$out")"
  elif ! printf '%s\n' "$out" | grep -qx 'label=burrow-default (enforce)'; then
    fail pkg-run "the container is not under the packaged AppArmor profile burrow-default: $(brief "$out")"
  elif ! printf '%s\n' "$out" | grep -qx 'uid=0'; then
    fail pkg-run "not root in the container: $(brief "$out")"
  elif [ "$(printf '%s\n' "$out" | awk -v r="$range" '$1 == 1 && $2 == r' | wc -l)" != 2 ]; then
    fail pkg-run "no map of $puser's range $range in uid_map and gid_map (the packaged helpers were not used?): $(brief "$out")"
  else
    ok "pkg-run ($(took)): $puser (created after the install) ran a container with /usr/bin/burrow and the packaged helpers: $(brief "$out")"
  fi
}

check_pkg_upgrade() {
  start_timer
  v1=$(dpkg-deb -f "$(ls "$share"/pkg/v1/burrow_*.deb)" Version)
  v2=$(dpkg-deb -f "$(ls "$share"/pkg/v2/burrow_*.deb)" Version)
  pkg_ensure_installed pkg-upgrade || return
  if [ "$(pkg_v burrow-helpers)" != "$v1" ]; then
    fail pkg-upgrade "burrow-helpers $(pkg_v burrow-helpers) is installed, not $v1"
    return
  fi
  # The administrator's edits of the conffile: burrow admin add-user's line, and one by hand.
  pkg_user || { fail pkg-upgrade "useradd $puser or starting user@.service failed"; return; }
  add=$(/usr/bin/burrow admin add-user "$puser" 2>&1) || { fail pkg-upgrade "burrow admin add-user $puser: $(brief "$add")"; return; }
  echo "# a local edit (guest check pkg-upgrade)" >>/etc/burrow/usernet
  if ! grep -q "^$puser veth burrow%u 4" /etc/burrow/usernet; then
    fail pkg-upgrade "admin add-user did not add $puser to /etc/burrow/usernet: $(brief "$add")"
    return
  fi
  cp /etc/burrow/usernet /root/usernet.edited
  echo "# a local edit (guest check pkg-upgrade)" >>/etc/apparmor.d/burrow-default
  cp /etc/apparmor.d/burrow-default /root/burrow-default.edited
  if ! pkg_apt v2; then
    fail pkg-upgrade "apt-get install of $v2 over $v1 failed: $(brief "$pout")"
    return
  fi
  bad=
  for p in burrow burrow-helpers; do
    [ "$(pkg_v $p)" = "$v2" ] || bad="$bad $p is '$(pkg_v $p)', not $v2;"
  done
  cmp -s /root/usernet.edited /etc/burrow/usernet || bad="$bad /etc/burrow/usernet lost the edits: $(brief "$(diff /root/usernet.edited /etc/burrow/usernet)");"
  cmp -s /root/burrow-default.edited /etc/apparmor.d/burrow-default || bad="$bad /etc/apparmor.d/burrow-default lost the edit;"
  grep -q '^burrow-default ' /sys/kernel/security/apparmor/profiles 2>/dev/null || bad="$bad burrow-default is not loaded after the upgrade;"
  left=$(ls -d /etc/burrow/*.dpkg-* /etc/apparmor.d/burrow-default.dpkg-* 2>/dev/null)
  [ -z "$left" ] || bad="$bad $left left by dpkg;"
  for f in /usr/bin/burrow-newuidmap /usr/bin/burrow-newgidmap /usr/bin/burrow-nic; do
    [ "$(stat -c '%a %U:%G' "$f" 2>&1)" = "4755 root:root" ] || bad="$bad $f is $(stat -c '%a %U:%G' "$f" 2>&1) after the upgrade;"
  done
  if [ -n "$bad" ]; then
    fail pkg-upgrade "$bad apt said: $(brief "$(printf '%s\n' "$pout" | tail -8)")"
  else
    ok "pkg-upgrade ($(took)): $v1 -> $v2 kept /etc/burrow/usernet as edited ($(grep -vc '^#' /etc/burrow/usernet) entry)"
  fi
}

check_pkg_purge() {
  start_timer
  pkg_ensure_installed pkg-purge || return
  # Stands for what burrow-nic writes at run time (its subnet leases): the postrm purges it.
  mkdir -p /var/lib/burrow && : >/var/lib/burrow/nic-leases
  # burrowp's user manager made nothing under the snapshot's paths; stop it anyway.
  [ -n "$(id -u "$puser" 2>/dev/null)" ] && systemctl stop "user@$(id -u "$puser").service" 2>/dev/null
  out=$(DEBIAN_FRONTEND=noninteractive timeout 600 dpkg --purge burrow burrow-helpers 2>&1)
  rc=$?
  pkg_snapshot >/root/pkg-after
  made=$(comm -13 /root/pkg-before /root/pkg-after | grep -Ev "$pkg_unrelated")
  gone=$(comm -23 /root/pkg-before /root/pkg-after | grep -Ev "$pkg_unrelated")
  if [ "$rc" != 0 ]; then
    fail pkg-purge "dpkg --purge exit $rc: $(brief "$out")"
  elif [ -n "$(pkg_v burrow-helpers)$(pkg_v burrow)" ]; then
    fail pkg-purge "still known to dpkg after the purge: $(dpkg -l 'burrow*' 2>&1 | tail -3 | tr '\n' '|')"
  elif [ -n "$made" ] || [ -n "$gone" ]; then
    fail pkg-purge "paths left behind: $(brief "$made"); paths gone: $(brief "$gone")"
  elif [ ! -d /etc/apparmor.d/disable ] || [ ! -d /etc/apparmor.d/local ]; then
    fail pkg-purge "the purge removed the apparmor package's /etc/apparmor.d/disable or local: $(ls -la /etc/apparmor.d 2>&1 | tr '\n' '|')"
  elif grep -q '^burrow-default ' /sys/kernel/security/apparmor/profiles 2>/dev/null; then
    fail pkg-purge "burrow-default is still loaded after the removal (the prerm unloads it)"
  else
    ok "pkg-purge ($(took)): nothing left under /usr /etc /var/lib /lib/systemd /var/cache/apparmor ($(wc -l </root/pkg-after) paths, as before the install)"
  fi
}

# --- the boot without systemd (nosd-*): PID 1 is build.sh's burrow-guest-noinit, cgroup2 alone
# on /sys/fs/cgroup, nobody delegates anything. burrow admin add-user makes
# /sys/fs/cgroup/burrow/USER for the user; a login script (here: this one, as root) starts the
# user's session in a child of it; the cgroup checks above then run there under the names
# nosd-*. ---
nosd_session=
# Runs "$@" as $user in its session cgroup, with a login's environment and the helpers'
# directory (no systemd-run without systemd): root moves the shell, then drops to the user.
nosd_as_user() {
  timeout 300 env NOSD_SESS="$nosd_session" NOSD_USER="$user" NOSD_HOME="/home/$user" NOSD_HELPERS="$prefix/bin" \
    sh -c 'echo $$ >"$NOSD_SESS/cgroup.procs" || exit 125
      exec setpriv --reuid="$NOSD_USER" --regid="$NOSD_USER" --init-groups env -i HOME="$NOSD_HOME" \
        USER="$NOSD_USER" LOGNAME="$NOSD_USER" PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        BURROW_HELPERS_DIR="$NOSD_HELPERS" "$@"' sh "$@" </dev/null 2>&1
}

check_nosd_add_user() {
  out=$add_user_out
  d=/sys/fs/cgroup/burrow/$user
  bad=
  [ "$add_user_rc" = 0 ] || bad="$bad exit $add_user_rc;"
  printf '%s' "$out" | grep -q "delegated cgroup $d" || bad="$bad it does not report $d;"
  [ -d "$d" ] || bad="$bad no $d;"
  # The user's: the directory and what moving processes and enabling controllers needs.
  for f in "$d" "$d/cgroup.procs" "$d/cgroup.subtree_control" "$d/cgroup.threads"; do
    [ "$(stat -c %u "$f" 2>&1)" = "$uid" ] || bad="$bad $f is owned by $(stat -c %u "$f" 2>&1), not $uid;"
  done
  # Root's: its own limits (the user must not raise them) and burrow/ above it.
  for f in "$d/memory.max" "$d/pids.max" "$d/cpu.max" /sys/fs/cgroup/burrow; do
    [ "$(stat -c %u "$f" 2>&1)" = 0 ] || bad="$bad $f is owned by $(stat -c %u "$f" 2>&1), not root;"
  done
  for p in /sys/fs/cgroup /sys/fs/cgroup/burrow; do
    sc=$(cat "$p/cgroup.subtree_control" 2>&1)
    for c in cpu memory pids; do
      echo " $sc " | grep -q " $c " || bad="$bad $c is not enabled in $p/cgroup.subtree_control ('$sc');"
    done
  done
  [ ! -e /sys/fs/cgroup/user.slice ] || bad="$bad /sys/fs/cgroup/user.slice exists without systemd;"
  if [ -n "$bad" ]; then
    fail add-user "$bad it said: $(brief "$out")"
  else
    ok "add-user: $d is $user's, cpu memory pids enabled above it"
  fi
  say "  admin add-user said: $(brief "$out")"
}

run_nosd() {
  pfx=nosd-
  main_setup
  cg_base=/sys/fs/cgroup/burrow/$user
  want nosd-add-user && check_nosd_add_user
  nosd_session=$cg_base/session
  out=$(setpriv --reuid="$user" --regid="$user" --init-groups mkdir -p "$nosd_session" 2>&1) \
    || { fail setup "as $user, mkdir $nosd_session (its session cgroup): $(brief "$out")"; finish; }
  as_user() { nosd_as_user "$@"; }
  as_user_detached() { nosd_as_user "$@"; }
  want nosd-doctor && check_doctor
  want nosd-memory-oom && check_memory_oom
  want nosd-pids-limit && check_pids_limit
  say "guest: cgroups left under $cg_base: $(find "$cg_base" -mindepth 1 -type d 2>/dev/null | tr '\n' ' ')"
  left=$(find "$cg_base" -mindepth 1 -type d ! -path "$nosd_session" 2>/dev/null | grep -v '/burrow$')
  [ -z "$left" ] || fail cgroup-removed "left behind: $(brief "$left")"
  finish
}
[ "$boot" = noinit ] && run_nosd

case $phase in
reboot1)
  main_setup
  check_svc_reboot_before
  finish
  ;;
reboot2)
  check_svc_reboot_after
  finish
  ;;
esac

wanted_pkg=false
wanted_main=false
for c in pkg-install pkg-run pkg-upgrade pkg-purge; do want $c && wanted_pkg=true; done
for c in admin-add-user doctor run-true memory-oom pids-limit cgroup-confined cpus-throttle net-bridge run-image apparmor svc-unit doctor-undelegated; do want $c && wanted_main=true; done
if $wanted_pkg; then
  if [ -d "$share/pkg/v1" ] && [ -d "$share/pkg/v2" ]; then
    pkg_snapshot >/root/pkg-before
    want pkg-install && check_pkg_install
    want pkg-run && check_pkg_run
    want pkg-upgrade && check_pkg_upgrade
    want pkg-purge && check_pkg_purge
  else
    fail pkg-install "no .debs on the share ($share/pkg/v1 and v2): run.sh builds them"
  fi
fi
$wanted_main || finish
main_setup
cg_base=/sys/fs/cgroup/user.slice/user-$uid.slice/user@$uid.service

want admin-add-user && check_admin_add_user
want doctor && check_doctor
want run-true && check_run_true
want memory-oom && check_memory_oom
want pids-limit && check_pids_limit
want cgroup-confined && check_cgroup_confined
want cpus-throttle && check_cpus_throttle
want net-bridge && check_net_bridge
want run-image && check_run_image
want apparmor && check_apparmor
want svc-unit && check_svc_unit
want doctor-undelegated && check_doctor_undelegated
say "guest: cgroups left under user@$uid.service: $(find "/sys/fs/cgroup/user.slice/user-$uid.slice/user@$uid.service" -mindepth 1 -type d 2>/dev/null | tr '\n' ' ')"
finish
