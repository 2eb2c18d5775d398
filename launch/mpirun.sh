#!/usr/bin/env bash
# Launches an MPI job with either family's mpiexec (Open MPI or MPICH/Hydra), adding what each needs:
#   --allow-run-as-root (Open MPI, only when run as root), --oversubscribe (only when asked), and binding
#   defaults unless the command line sets its own. A program named `ringattn` resolves to this repository's
#   Release build, which is built first when missing or older than the sources.
#
# Usage: launch/mpirun.sh [--mpiexec PATH] [--oversubscribe] [--dry-run] [mpiexec options] -n P PROGRAM [ARGS...]
#   --mpiexec PATH   the mpiexec to use (default: $MPIEXEC, else mpiexec), e.g. mpiexec.openmpi or mpiexec.mpich
#   --oversubscribe  allow more ranks than cores on a node (implied on one node when P > cores, with a note;
#                    across hosts only when given)
#   --dry-run        print the mpiexec command instead of running it
# Everything else goes to mpiexec unchanged. Binding defaults, when no --bind-to/--map-by/-bind-to/-map-by is given:
#   one node, P <= cores: each rank bound to its own cores/P cores (the CPU kernel uses all the cores it is given);
#   one node, P > cores:  no binding;  several hosts (--hostfile/-f/--host/-H): bind each rank to a NUMA domain.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

mpiexec="${MPIEXEC:-mpiexec}"
oversubscribe=0
dry_run=0
while [ $# -gt 0 ]; do
  case "$1" in
    --mpiexec) mpiexec="$2"; shift 2 ;;
    --mpiexec=*) mpiexec="${1#--mpiexec=}"; shift ;;
    --oversubscribe) oversubscribe=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}" >&2; exit 2; }
command -v "$mpiexec" >/dev/null || { echo "mpirun.sh: $mpiexec not found (install openmpi-bin or mpich, or pass --mpiexec)" >&2; exit 2; }

version="$("$mpiexec" --version 2>&1 || true)"
case "$version" in
  *"Open MPI"*|*OpenRTE*|*PRRTE*) family=openmpi ;;
  *HYDRA*|*Hydra*) family=mpich ;;
  *) family=unknown ;;
esac

ranks="" binding_given=0 multi_host=0 args=()
previous=""
for arg in "$@"; do
  case "$previous" in -n|-np|--n|--np|-c) ranks="$arg" ;; esac
  case "$arg" in
    --bind-to|--bind-to=*|-bind-to|--map-by|--map-by=*|-map-by|--cpus-per-proc|--cpus-per-rank|-binding) binding_given=1 ;;
    --hostfile|-hostfile|--machinefile|-machinefile|-f|--host|-host|-H|--default-hostfile) multi_host=1 ;;
  esac
  previous="$arg"
done

# `ringattn` as the program: the repository's Release build, built when missing or stale.
binary="$root/src/RingAttention.Cli/bin/Release/net10.0/ringattn"
resolved=0
for arg in "$@"; do
  if [ "$resolved" -eq 0 ] && [ "$arg" = "ringattn" ]; then
    # ringattn.dll dates the build; a build that changed only a dependency leaves it untouched, hence the touch.
    if [ "$dry_run" -eq 0 ] && { [ ! -f "$binary.dll" ] || [ -n "$(find "$root/src" \( -name '*.cs' -o -name '*.csproj' \) -newer "$binary.dll" -print -quit)" ]; }; then
      echo "mpirun.sh: building ringattn (Release)" >&2
      dotnet build "$root/src/RingAttention.Cli/RingAttention.Cli.csproj" -c Release -nologo -v quiet >&2 && touch "$binary.dll"
    fi
    args+=("$binary")
    resolved=1
  else
    args+=("$arg")
  fi
done

cores="$(nproc)"
if [ "$oversubscribe" -eq 0 ] && [ "$multi_host" -eq 0 ] && [ -n "$ranks" ] && [ "$ranks" -gt "$cores" ]; then
  # One node and more ranks than cores: what the command asks for can only run oversubscribed.
  echo "mpirun.sh: $ranks ranks on $cores cores of this node: oversubscribing" >&2
  oversubscribe=1
fi
extra=()
case "$family" in
  openmpi)
    [ "$(id -u)" -eq 0 ] && extra+=(--allow-run-as-root)
    [ "$oversubscribe" -eq 1 ] && extra+=(--oversubscribe)
    if [ "$binding_given" -eq 0 ]; then
      if [ "$multi_host" -eq 1 ]; then extra+=(--map-by numa --bind-to numa)
      elif [ -n "$ranks" ] && [ "$ranks" -le "$cores" ]; then extra+=(--map-by "slot:PE=$((cores / ranks))" --bind-to core)
      else extra+=(--bind-to none)
      fi
    fi
    ;;
  mpich)
    # Hydra neither refuses root nor limits ranks to cores.
    if [ "$binding_given" -eq 0 ]; then
      if [ "$multi_host" -eq 1 ]; then extra+=(-bind-to numa)
      elif [ -n "$ranks" ] && [ "$ranks" -le "$cores" ]; then extra+=(-bind-to "core:$((cores / ranks))")
      fi
    fi
    ;;
esac

command=("$mpiexec" "${extra[@]}" "${args[@]}")
echo "+ ${command[*]}" >&2
[ "$dry_run" -eq 1 ] && exit 0
exec "${command[@]}"
