/* Sample events the format tests share. Written with ' for " so they
 * read as JSON; tg_test_json() turns them into the real text. */
#ifndef TG_TEST_HOOK_EVENTS_H
#define TG_TEST_HOOK_EVENTS_H

#include <stdlib.h>
#include <string.h>

/* Two anomalies: an IPv6 client (a /64 prefix) over its quota, and a key
 * without an address above its baseline. */
#define TG_TEST_ANOMALY                                                                         \
	"{'schema':'tollgate.anomaly.v1','id':'evt_0123456789abcdef0123456789abcdef',"         \
	"'instance':'edge','host':'gw-1','agent_version':'0.1.0',"                              \
	"'window':{'start':'2026-11-28T06:40:00.000Z','end':'2026-11-28T06:40:10.000Z'},"      \
	"'severity':'critical',"                                                                \
	"'summary':'2 anomalies: quota_exhausted & rate_spike (2001:db8:1::/64 > quota)',"      \
	"'anomalies':["                                                                         \
	"{'type':'quota_exhausted','severity':'critical',"                                      \
	"'client':{'address':'2001:db8:1::','prefix':64,'key':null},"                           \
	"'observed':{'requests_per_sec':412.5},'quota':{'requests_per_sec':100},'count':12,"    \
	"'first_seen':'2026-11-28T06:40:01.250Z','last_seen':'2026-11-28T06:40:09.750Z'},"      \
	"{'type':'rate_spike','severity':'warning',"                                            \
	"'client':{'address':null,'prefix':null,'key':'team-a'},"                               \
	"'observed':{'requests_per_sec':250,'bytes_per_sec':81920},"                            \
	"'baseline':{'requests_per_sec':20.5},'count':3,"                                       \
	"'first_seen':'2026-11-28T06:40:02.000Z','last_seen':'2026-11-28T06:40:08.000Z'}],"     \
	"'top_clients':["                                                                       \
	"{'address':'2001:db8:1::','key':null,'requests_per_sec':412.5,'bytes_per_sec':90000,"  \
	"'denied':3120},"                                                                       \
	"{'address':null,'key':'team-a','requests_per_sec':250,'bytes_per_sec':81920,"          \
	"'denied':0}],"                                                                         \
	"'totals':{'requests':6625,'bytes':1720320,'denied':3120,'clients':42}}"

#define TG_TEST_ANOMALY_ID "evt_0123456789abcdef0123456789abcdef"

/* The triage of the event above; its text has Slack's markup characters. */
#define TG_TEST_TRIAGE                                                                          \
	"{'schema':'tollgate.triage.v1','id':'evt_fedcba9876543210fedcba9876543210',"          \
	"'event_id':'evt_0123456789abcdef0123456789abcdef','instance':'edge','host':'gw-1',"   \
	"'agent_version':'0.1.0','time':'2026-11-28T06:40:12.345Z','severity':'critical',"     \
	"'model':'gpt-4o-mini',"                                                                \
	"'triage':'Likely cause: a batch job on 2001:db8:1::/64 retrying <all> requests & "     \
	"ignoring 429s. Risk: low > quota holds. Action: ask the owner to back off.'}"

/* s with every ' turned into ": malloc'd, the caller frees. */
static inline char *tg_test_json(const char *s)
{
	char *out = strdup(s);

	for (char *p = out; p && *p; p++)
		if (*p == '\'')
			*p = '"';
	return out;
}

#endif
