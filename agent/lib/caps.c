/* Capability masks and their names. The names come from libcap
 * (cap_from_name/cap_to_name), so they stay in step with the kernel
 * headers libcap was built against rather than a table of our own. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "lib/caps.h"

int tg_caps_parse(const char *list, uint64_t *mask, char *badbuf, size_t badlen)
{
	const char *p = list ? list : "";
	uint64_t m = 0;

	while (*p) {
		char name[64];
		size_t n = strcspn(p, ", \t");
		cap_value_t v;

		if (n == 0) {
			p++;
			continue;
		}
		if (n < sizeof(name)) {
			memcpy(name, p, n);
			name[n] = '\0';
		}
		/* cap_from_name() takes a known prefix ("cap_bpf;"): whole
		 * words only. */
		if (n >= sizeof(name) ||
		    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != n ||
		    cap_from_name(name, &v) != 0 || v < 0 || v > 63) {
			if (badbuf && badlen)
				snprintf(badbuf, badlen, "%.*s", (int)n, p);
			return -EINVAL;
		}
		m |= TG_CAP_BIT(v);
		p += n;
	}
	*mask = m;
	return 0;
}

void tg_caps_format(uint64_t mask, char *buf, size_t len)
{
	size_t o = 0;

	if (!len)
		return;
	buf[0] = '\0';
	if (!mask) {
		snprintf(buf, len, "none");
		return;
	}
	for (int c = 0; c < 64; c++) {
		char *name;

		if (!(mask & TG_CAP_BIT(c)) || o >= len)
			continue;
		name = cap_to_name((cap_value_t)c);
		o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? "," : "",
				      name ? name : "?");
		cap_free(name);
	}
}

int tg_caps_from_status(const char *status, const char *field, uint64_t *mask)
{
	size_t fl = strlen(field);

	for (const char *line = status; line && *line;) {
		const char *nl = strchr(line, '\n');

		if (!strncmp(line, field, fl) && line[fl] == ':') {
			const char *v = line + fl + 1;
			char *end;
			unsigned long long x;

			while (*v == ' ' || *v == '\t')
				v++;
			if (!isxdigit((unsigned char)*v))
				return -EINVAL;
			errno = 0;
			x = strtoull(v, &end, 16);
			if (errno || (*end && *end != '\n'))
				return -EINVAL;
			*mask = (uint64_t)x;
			return 0;
		}
		line = nl ? nl + 1 : NULL;
	}
	return -ENOENT;
}

/* bits: the "other" triple wanted (S_IXOTH, S_IWOTH | S_IXOTH), moved to
 * the owner's or the group's place as the kernel picks the triple. */
static bool dir_allows(mode_t mode, uid_t owner, gid_t group, uid_t uid, const gid_t *groups,
		       int ng, mode_t bits)
{
	if (owner == uid)
		return (mode & (bits << 6)) == bits << 6;
	for (int i = 0; i < ng; i++)
		if (group == groups[i])
			return (mode & (bits << 3)) == bits << 3;
	return (mode & bits) == bits;
}

bool tg_caps_dir_searchable(mode_t mode, uid_t owner, gid_t group, uid_t uid,
		       const gid_t *groups, int ng)
{
	return dir_allows(mode, owner, group, uid, groups, ng, S_IXOTH);
}

bool tg_caps_dir_writable(mode_t mode, uid_t owner, gid_t group, uid_t uid,
			  const gid_t *groups, int ng)
{
	return dir_allows(mode, owner, group, uid, groups, ng, S_IWOTH | S_IXOTH);
}

int tg_caps_current(uint64_t *eff, uint64_t *prm, uint64_t *bnd, int *nnp)
{
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n;
	uint64_t v = 0;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	if (tg_caps_from_status(buf, "CapEff", eff) || tg_caps_from_status(buf, "CapPrm", prm) ||
	    tg_caps_from_status(buf, "CapBnd", bnd) || tg_caps_from_status(buf, "NoNewPrivs", &v))
		return -EINVAL;
	*nnp = (int)v;
	return 0;
}

uint64_t tg_caps_effective(void)
{
	cap_t c = cap_get_proc();
	uint64_t m = 0;

	for (cap_value_t v = 0; c && v < 64; v++) {
		cap_flag_value_t f = CAP_CLEAR;

		if (CAP_IS_SUPPORTED(v) && !cap_get_flag(c, v, CAP_EFFECTIVE, &f) && f == CAP_SET)
			m |= TG_CAP_BIT(v);
	}
	cap_free(c);
	return m;
}
