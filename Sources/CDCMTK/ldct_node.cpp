// DICOM networking for `ldct node`: see include/ldct_node.h.
#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dctk.h"
#include "dcmtk/dcmnet/scp.h"
#include "dcmtk/dcmnet/scpthrd.h"
#include "dcmtk/dcmnet/scppool.h"
#include "dcmtk/dcmnet/dstorscu.h"
#include "dcmtk/dcmnet/diutil.h"
#include "dcmtk/oflog/oflog.h"
#include "dcmtk/dcmjpeg/djdecode.h"
#include "dcmtk/dcmjpls/djdecode.h"
#include "dcmtk/dcmdata/dcrledrg.h"

#include "ldct_node.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <mutex>
#include <set>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace {

struct NodeState {
    std::string ae;
    std::string spool;
    std::set<std::string> allow;
    bool acceptNonCT = false;
    uint64_t limit = 0;
    ldct_node_log_fn log = nullptr;
    std::atomic<uint64_t> bytes{0};
    std::atomic<uint64_t> counter{0};
};

NodeState g_state;
std::mutex g_logMutex;

void say(int level, const std::string &message) {
    if (!g_state.log) return;
    std::lock_guard<std::mutex> lock(g_logMutex);
    g_state.log(level, message.c_str());
}

void fill(char *err, size_t len, const std::string &message) {
    if (err && len > 0) {
        std::snprintf(err, len, "%s", message.c_str());
    }
}

bool isCT(const OFString &sopClass) {
    return sopClass == UID_CTImageStorage || sopClass == UID_EnhancedCTImageStorage ||
           sopClass == UID_LegacyConvertedEnhancedCTImageStorage;
}

/// UIDs become path components: keep digits and dots only.
bool safeUID(const OFString &uid) {
    if (uid.empty() || uid.length() > 64) return false;
    for (size_t i = 0; i < uid.length(); ++i) {
        char c = uid[i];
        if (!((c >= '0' && c <= '9') || c == '.')) return false;
    }
    return uid != "." && uid != "..";
}

uint64_t folderBytes(const std::string &path) {
    uint64_t total = 0;
    DIR *dir = opendir(path.c_str());
    if (!dir) return 0;
    while (struct dirent *e = readdir(dir)) {
        std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        std::string full = path + "/" + name;
        struct stat st;
        if (lstat(full.c_str(), &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) total += folderBytes(full);
        else if (S_ISREG(st.st_mode)) total += (uint64_t)st.st_size;
    }
    closedir(dir);
    return total;
}

void makeDirs(const std::string &path) {
    std::string partial;
    for (size_t i = 0; i < path.size(); ++i) {
        partial += path[i];
        if (path[i] == '/' && partial.size() > 1) mkdir(partial.c_str(), 0755);
    }
    mkdir(path.c_str(), 0755);
}

void syncPath(const std::string &path, bool directory) {
    int fd = open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

class SpoolSCP : public DcmThreadSCP {
  public:
    SpoolSCP() {}

  protected:
    OFBool checkCallingAETitleAccepted(const OFString &callingAE) override {
        if (g_state.allow.empty()) return OFTrue;
        OFString trimmed = callingAE;
        while (!trimmed.empty() && trimmed[trimmed.length() - 1] == ' ') trimmed.erase(trimmed.length() - 1);
        bool ok = g_state.allow.count(trimmed.c_str()) > 0;
        if (!ok) say(1, std::string("refused association from calling AE '") + trimmed.c_str() + "' (not in --allow)");
        return ok ? OFTrue : OFFalse;
    }

    OFCondition handleIncomingCommand(T_DIMSE_Message *msg, const DcmPresentationContextInfo &info) override {
        if (msg->CommandField != DIMSE_C_STORE_RQ) return DcmThreadSCP::handleIncomingCommand(msg, info);
        T_DIMSE_C_StoreRQ &req = msg->msg.CStoreRQ;
        DcmDataset *dataset = NULL;
        OFCondition cond = receiveSTORERequest(req, info.presentationContextID, dataset);
        if (cond.bad()) {
            delete dataset;
            say(1, std::string("receiving a C-STORE failed: ") + cond.text());
            return cond;
        }
        Uint16 status = store(req, dataset, info);
        delete dataset;
        return sendSTOREResponse(info.presentationContextID, req, status);
    }

  private:
    Uint16 store(const T_DIMSE_C_StoreRQ &req, DcmDataset *dataset, const DcmPresentationContextInfo &info) {
        OFString sopClass = req.AffectedSOPClassUID;
        if (!isCT(sopClass)) {
            if (g_state.acceptNonCT) {
                say(0, std::string("accepted and ignored a non-CT instance (SOP class ") + sopClass.c_str() + ")");
                return STATUS_Success;
            }
            say(1, std::string("refused a non-CT instance (SOP class ") + sopClass.c_str() + ") with status 0122");
            return STATUS_STORE_Refused_SOPClassNotSupported;
        }
        if (!dataset) return STATUS_STORE_Error_CannotUnderstand;
        OFString series, sop;
        dataset->findAndGetOFString(DCM_SeriesInstanceUID, series);
        dataset->findAndGetOFString(DCM_SOPInstanceUID, sop);
        if (!safeUID(series) || !safeUID(sop) || sop != OFString(req.AffectedSOPInstanceUID)) {
            say(1, "refused an instance with a missing or malformed Series/SOP Instance UID (status C000)");
            return STATUS_STORE_Error_CannotUnderstand;
        }
        if (g_state.limit > 0 && g_state.bytes.load() >= g_state.limit) {
            say(1, "spool is full (--spool-limit): refused with status A700");
            return STATUS_STORE_Refused_OutOfResources;
        }
        std::string tmpDir = g_state.spool + "/tmp";
        std::string seriesDir = g_state.spool + "/incoming/" + series.c_str();
        makeDirs(tmpDir);
        makeDirs(seriesDir);
        char tmpName[96];
        std::snprintf(tmpName, sizeof tmpName, "/%d-%llu.dcm", (int)getpid(), (unsigned long long)g_state.counter.fetch_add(1));
        std::string tmp = tmpDir + tmpName;
        std::string final = seriesDir + "/" + sop.c_str() + ".dcm";
        DcmFileFormat file(dataset);
        E_TransferSyntax xfer = DcmXfer(info.acceptedTransferSyntax.c_str()).getXfer();
        if (xfer == EXS_Unknown) xfer = EXS_LittleEndianExplicit;
        OFCondition saved = file.saveFile(tmp.c_str(), xfer, EET_ExplicitLength, EGL_recalcGL, EPD_noChange, 0, 0, EWM_createNewMeta);
        if (saved.bad()) {
            unlink(tmp.c_str());
            say(1, std::string("could not write to the spool: ") + saved.text());
            return STATUS_STORE_Refused_OutOfResources;
        }
        syncPath(tmp, false);
        struct stat st;
        uint64_t size = stat(tmp.c_str(), &st) == 0 ? (uint64_t)st.st_size : 0;
        if (rename(tmp.c_str(), final.c_str()) != 0) {
            unlink(tmp.c_str());
            say(1, std::string("could not move a received instance into the spool: ") + std::strerror(errno));
            return STATUS_STORE_Refused_OutOfResources;
        }
        syncPath(seriesDir, true);
        g_state.bytes.fetch_add(size);
        return STATUS_Success;
    }
};

class RecordingSCU : public DcmStorageSCU {
  public:
    std::vector<std::pair<std::string, Uint16>> results;

  protected:
    void notifySOPInstanceSent(const TransferEntry &entry) override {
        results.push_back(std::make_pair(std::string(entry.SOPInstanceUID.c_str()), entry.ResponseStatusCode));
    }
};

std::once_flag g_codecs;

void registerCodecs() {
    std::call_once(g_codecs, [] {
        OFLog::configure(OFLogger::ERROR_LOG_LEVEL);
        DJDecoderRegistration::registerCodecs();
        DJLSDecoderRegistration::registerCodecs();
        DcmRLEDecoderRegistration::registerCodecs();
    });
}

}  // namespace

extern "C" int ldct_scp_run(const ldct_scp_config *config, char *err, size_t err_len) {
    registerCodecs();
    if (!config || !config->spool || !config->ae_title) {
        fill(err, err_len, "incomplete configuration");
        return -1;
    }
    g_state.ae = config->ae_title;
    g_state.spool = config->spool;
    g_state.acceptNonCT = config->accept_non_ct != 0;
    g_state.limit = config->spool_limit_bytes;
    g_state.log = config->log;
    g_state.allow.clear();
    if (config->allow) {
        std::string all = config->allow, item;
        for (size_t i = 0; i <= all.size(); ++i) {
            if (i == all.size() || all[i] == ',') {
                if (!item.empty()) g_state.allow.insert(item);
                item.clear();
            } else if (all[i] != ' ') {
                item += all[i];
            }
        }
    }
    makeDirs(g_state.spool + "/incoming");
    g_state.bytes = folderBytes(g_state.spool + "/incoming") + folderBytes(g_state.spool + "/restored");

    DcmSCPPool<SpoolSCP> pool;
    DcmSCPConfig &cfg = pool.getConfig();
    cfg.setAETitle(config->ae_title);
    cfg.setPort(config->port);
    cfg.setRespondWithCalledAETitle(OFTrue);
    cfg.setConnectionBlockingMode(DUL_BLOCK);
    cfg.setACSETimeout(30);
    cfg.setDIMSETimeout(60);
    cfg.setMaxReceivePDULength(ASC_DEFAULTMAXPDU);
    OFList<OFString> syntaxes;
    syntaxes.push_back(UID_LittleEndianExplicitTransferSyntax);
    syntaxes.push_back(UID_LittleEndianImplicitTransferSyntax);
    syntaxes.push_back(UID_BigEndianExplicitTransferSyntax);
    syntaxes.push_back(UID_JPEGProcess14SV1TransferSyntax);
    syntaxes.push_back(UID_JPEGProcess14TransferSyntax);
    syntaxes.push_back(UID_JPEGLSLosslessTransferSyntax);
    syntaxes.push_back(UID_JPEGLSLossyTransferSyntax);
    syntaxes.push_back(UID_RLELosslessTransferSyntax);
    syntaxes.push_back(UID_JPEG2000LosslessOnlyTransferSyntax);
    syntaxes.push_back(UID_JPEG2000TransferSyntax);
    syntaxes.push_back(UID_JPEGProcess1TransferSyntax);
    syntaxes.push_back(UID_JPEGProcess2_4TransferSyntax);
    syntaxes.push_back(UID_DeflatedExplicitVRLittleEndianTransferSyntax);
    OFList<OFString> plain;
    plain.push_back(UID_LittleEndianExplicitTransferSyntax);
    plain.push_back(UID_LittleEndianImplicitTransferSyntax);
    cfg.addPresentationContext(UID_VerificationSOPClass, plain);
    // Every storage class: CT is spooled; the rest gets a DIMSE status (refused or ignored).
    for (int i = 0; i < numberOfDcmAllStorageSOPClassUIDs; ++i) {
        cfg.addPresentationContext(dcmAllStorageSOPClassUIDs[i], isCT(dcmAllStorageSOPClassUIDs[i]) ? syntaxes : plain);
    }
    pool.setMaxThreads((Uint16)(config->max_associations > 0 ? config->max_associations : 4));
    say(0, "starting the C-STORE SCP as " + g_state.ae + " on port " + std::to_string(config->port));
    OFCondition cond = pool.listen();
    if (cond.bad()) {
        fill(err, err_len, std::string("cannot listen on port ") + std::to_string(config->port) + ": " + cond.text());
        return -1;
    }
    return 0;
}

extern "C" uint64_t ldct_scp_spool_bytes(void) { return g_state.bytes.load(); }

extern "C" void ldct_scp_set_spool_bytes(uint64_t bytes) { g_state.bytes.store(bytes); }

extern "C" int ldct_scu_store(const char *calling_ae, const char *called_ae, const char *host, uint16_t port,
                              const char *const *files, int count, uint16_t *statuses, int timeout_seconds,
                              char *err, size_t err_len) {
    registerCodecs();
    for (int i = 0; i < count; ++i) statuses[i] = 0xFFFF;
    RecordingSCU scu;
    scu.setAETitle(calling_ae);
    scu.setPeerAETitle(called_ae);
    scu.setPeerHostName(host);
    scu.setPeerPort(port);
    scu.setACSETimeout((Uint32)timeout_seconds);
    scu.setDIMSETimeout((Uint32)timeout_seconds);
    scu.setConnectionTimeout(timeout_seconds);
    scu.setDatasetConversionMode(OFTrue);
    scu.setHaltOnUnsuccessfulStoreMode(OFFalse);
    std::vector<std::string> sops((size_t)count);
    for (int i = 0; i < count; ++i) {
        DcmFileFormat ff;
        if (ff.loadFile(files[i]).good()) {
            OFString sop;
            ff.getDataset()->findAndGetOFString(DCM_SOPInstanceUID, sop);
            sops[(size_t)i] = sop.c_str();
        }
        OFCondition c = scu.addDicomFile(files[i], ERM_fileOnly, OFFalse);
        if (c.bad()) statuses[i] = 0xC000;
    }
    OFCondition cond = scu.addPresentationContexts();
    if (cond.good()) cond = scu.initNetwork();
    if (cond.good()) cond = scu.negotiateAssociation();
    if (cond.bad()) {
        fill(err, err_len, std::string("association with ") + called_ae + "@" + host + ":" + std::to_string(port) + " failed: " + cond.text());
        return -1;
    }
    cond = scu.sendSOPInstances();
    scu.releaseAssociation();
    for (auto &r : scu.results) {
        for (int i = 0; i < count; ++i) {
            if (sops[(size_t)i] == r.first) statuses[i] = r.second;
        }
    }
    if (cond.bad() && scu.results.empty()) {
        fill(err, err_len, std::string("sending failed: ") + cond.text());
        return -1;
    }
    return 0;
}

extern "C" int ldct_scu_echo(const char *calling_ae, const char *called_ae, const char *host, uint16_t port,
                             int timeout_seconds, char *err, size_t err_len) {
    DcmSCU scu;
    scu.setAETitle(calling_ae);
    scu.setPeerAETitle(called_ae);
    scu.setPeerHostName(host);
    scu.setPeerPort(port);
    scu.setACSETimeout((Uint32)timeout_seconds);
    scu.setConnectionTimeout(timeout_seconds);
    OFList<OFString> ts;
    ts.push_back(UID_LittleEndianImplicitTransferSyntax);
    scu.addPresentationContext(UID_VerificationSOPClass, ts);
    OFCondition cond = scu.initNetwork();
    if (cond.good()) cond = scu.negotiateAssociation();
    if (cond.good()) cond = scu.sendECHORequest(0);
    scu.releaseAssociation();
    if (cond.bad()) {
        fill(err, err_len, cond.text());
        return -1;
    }
    return 0;
}
