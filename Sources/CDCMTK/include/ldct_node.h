// LowDoseCT DICOM networking shim: a C-STORE SCP that spools received instances durably, and a
// C-STORE / C-ECHO SCU. Plain C: no DCMTK type crosses this header.
#ifndef LDCT_NODE_H
#define LDCT_NODE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// What the SCP tells the host program (one line, no patient data); called from SCP threads.
typedef void (*ldct_node_log_fn)(int level, const char *message);

typedef struct {
    const char *ae_title;
    uint16_t port;
    /// Received instances go to <spool>/incoming/<SeriesInstanceUID>/<SOPInstanceUID>.dcm,
    /// written under <spool>/tmp first, fsynced, then renamed; success is answered only after.
    const char *spool;
    /// Calling AE titles allowed (empty: any), comma-separated.
    const char *allow;
    /// 0: refuse non-CT storage with status 0x0122 (SOP class not supported); 1: accept and drop.
    int accept_non_ct;
    /// Refuse with 0xA700 (out of resources) when the spool holds this many bytes (0: no limit).
    uint64_t spool_limit_bytes;
    /// Concurrent associations.
    int max_associations;
    ldct_node_log_fn log;
} ldct_scp_config;

/// Runs the SCP until the process ends (or listen fails). Returns 0 on clean stop, else fills err.
int ldct_scp_run(const ldct_scp_config *config, char *err, size_t err_len);

/// Bytes currently accounted to the spool by the SCP (for status).
uint64_t ldct_scp_spool_bytes(void);
/// Corrects that figure after the host program removed files from the spool.
void ldct_scp_set_spool_bytes(uint64_t bytes);

/// C-STORE `count` files to AE@host:port in one association. statuses[i] gets the DIMSE status
/// of file i (0 = success; 0xFFFF = not sent). Returns 0 when the association worked (check the
/// statuses), -1 when it could not be made or broke (err says why).
int ldct_scu_store(const char *calling_ae, const char *called_ae, const char *host, uint16_t port,
                   const char *const *files, int count, uint16_t *statuses, int timeout_seconds,
                   char *err, size_t err_len);

/// C-ECHO. 0 = success.
int ldct_scu_echo(const char *calling_ae, const char *called_ae, const char *host, uint16_t port,
                  int timeout_seconds, char *err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif
