#!/bin/sh
# install-config.sh EXAMPLE TARGET: installs the example as the configuration
# when there is none yet (honouring DESTDIR).
set -eu
example="${DESTDIR:-}$1"
target="${DESTDIR:-}$2"
if [ -e "$target" ]; then
        echo "Keeping the existing $target"
        exit 0
fi
mkdir -p "$(dirname "$target")"
install -m 0644 "$example" "$target"
echo "Installed $target"
