/* placeholder: filled in by its change */
typedef int tg_placeholder_retry;
