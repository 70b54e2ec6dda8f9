/* One env drawn from one camera: MuJoCo 2.2.2's abstract scene (mjv_) and
 * GL renderer (mjr_) on the current context, read back as RGB. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mujoco/mujoco.h>

#include "render/render_impl.h"

#define MAX_GEOM 2000

struct render_view {
    const env_sawyer *env;
    int width, height;
    mjvScene scn;
    mjrContext con;
    mjvOption opt;
    mjvPerturb pert;
    mjvCamera cam;
    unsigned char *flip; /* bottom-up rows from mjr_readPixels */
    int arm[9];          /* body ids of the arm chain, -1 where missing */
    int turn;            /* render_camera.flip: picture turned 180 degrees */
};

/* The scenes carry no arm link meshes (only the links' inertials), so the
 * arm is drawn here as capsules between the link frames, on a pedestal:
 * render-only decoration, the model stays as it is. */
static const char *const arm_bodies[9] = {"right_arm_base_link", "right_l0", "right_l1",
                                           "right_l2", "right_l3", "right_l4",
                                           "right_l5", "right_l6", "right_hand"};

void render_camera_default(render_camera *c)
{
    memset(c, 0, sizeof *c);
    c->azimuth = -140;
    c->elevation = -30;
    c->distance = 1.75;
    c->lookat[0] = 0;
    c->lookat[1] = 0.5;
    c->lookat[2] = 0.05;
}

void render_camera_list(const env_sawyer *e, char *buf, size_t cap)
{
    const mjModel *m = env_model(e);
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < m->ncam && n < cap; i++) {
        const char *name = m->names + m->name_camadr[i];
        int w = snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", name);
        if (w < 0)
            break;
        n += (size_t)w;
    }
    if (m->ncam == 0)
        snprintf(buf, cap, "(none)");
}

int render_view_create(render_view **out, render_gl *g, const env_sawyer *e,
                       const render_camera *cam, int width, int height, mtrl_err *err)
{
    *out = NULL;
    if (!g)
        return err_set(err, MTRL_EINPUT, "render_view_create: no GL context");
    const mjModel *m = env_model(e);
    const char *task = env_task_name(env_task_index(e));
    int camid = -1;
    if (cam->name[0]) {
        camid = mj_name2id(m, mjOBJ_CAMERA, cam->name);
        if (camid < 0) {
            char names[512];
            render_camera_list(e, names, sizeof names);
            return err_set(err, MTRL_EINPUT,
                           "camera '%s' is not in the scene of %s (%s); its cameras: %s "
                           "(or a free camera: --azimuth/--elevation/--distance/--lookat)",
                           cam->name, task, env_task_scene(env_task_index(e)), names);
        }
    }
    if (width < 16 || height < 16 || width > m->vis.global.offwidth ||
        height > m->vis.global.offheight)
        return err_set(err, MTRL_EINPUT,
                       "image size %dx%d: must be between 16x16 and the scene's offscreen "
                       "buffer %dx%d (<visual><global offwidth offheight> of %s)",
                       width, height, m->vis.global.offwidth, m->vis.global.offheight,
                       env_task_scene(env_task_index(e)));
    render_view *v = calloc(1, sizeof *v);
    if (!v || !(v->flip = malloc((size_t)width * height * 3))) {
        free(v);
        return err_set(err, MTRL_ENOMEM, "out of memory");
    }
    v->env = e;
    v->turn = cam->flip;
    v->width = width;
    v->height = height;
    mjv_defaultOption(&v->opt);
    /* The project's scenes keep the visible geoms of the robot, table and
     * objects in groups 4-5 (they carry the mass, spec §1.1); group 3 holds
     * helpers (mocap, sites) that Meta-World does not show either. */
    for (int i = 0; i < mjNGROUP; i++)
        v->opt.geomgroup[i] = i != 3;
    mjv_defaultPerturb(&v->pert);
    mjv_defaultCamera(&v->cam);
    if (camid >= 0) {
        v->cam.type = mjCAMERA_FIXED;
        v->cam.fixedcamid = camid;
    } else {
        v->cam.type = mjCAMERA_FREE;
        v->cam.azimuth = cam->azimuth;
        v->cam.elevation = cam->elevation;
        v->cam.distance = cam->distance;
        for (int i = 0; i < 3; i++)
            v->cam.lookat[i] = cam->lookat[i];
    }
    for (int i = 0; i < 9; i++)
        v->arm[i] = mj_name2id(m, mjOBJ_BODY, arm_bodies[i]);
    mjv_defaultScene(&v->scn);
    mjv_makeScene(m, &v->scn, MAX_GEOM);
    mjr_defaultContext(&v->con);
    /* mjr_makeContext sizes the offscreen buffer from the model's offwidth x
     * offheight (the bound checked above) and only reads the model: a
     * shallow copy with the size asked for keeps each context small, which
     * matters when an MT50 evaluation video holds 50 of them. */
    mjModel sized = *m;
    sized.vis.global.offwidth = width;
    sized.vis.global.offheight = height;
    mjr_makeContext(&sized, &v->con, height >= 400 ? mjFONTSCALE_150 : mjFONTSCALE_100);
    mjr_setBuffer(mjFB_OFFSCREEN, &v->con);
    if (v->con.currentBuffer != mjFB_OFFSCREEN || v->con.offWidth != width ||
        v->con.offHeight != height) {
        render_view_destroy(v);
        return err_set(err, MTRL_ERUNTIME,
                       "MuJoCo could not set up its offscreen framebuffer on the GL context "
                       "(%s)", render_gl_backend(g));
    }
    *out = v;
    return 0;
}

void render_view_destroy(render_view *v)
{
    if (!v)
        return;
    mjr_freeContext(&v->con);
    mjv_freeScene(&v->scn);
    free(v->flip);
    free(v);
}

static void add_arm(render_view *v, const mjData *d)
{
    static const float rgba[4] = {0.5f, 0.1f, 0.1f, 1.0f}; /* Meta-World's arm colour */
    static const float dark[4] = {0.2f, 0.2f, 0.2f, 1.0f};
    /* the pedestal: from the floor (z = -0.913 in every scene) up to the arm base */
    if (v->arm[0] >= 0 && v->scn.ngeom < v->scn.maxgeom) {
        const mjtNum *b = d->xpos + 3 * v->arm[0];
        mjvGeom *gm = v->scn.geoms + v->scn.ngeom++;
        mjv_initGeom(gm, mjGEOM_CYLINDER, NULL, NULL, NULL, dark);
        mjv_makeConnector(gm, mjGEOM_CYLINDER, 0.09, b[0], b[1], -0.913, b[0], b[1], b[2]);
        gm->category = mjCAT_DECOR;
    }
    for (int i = 0; i + 1 < 9; i++) {
        int a = v->arm[i], b = v->arm[i + 1];
        if (a < 0 || b < 0 || v->scn.ngeom >= v->scn.maxgeom)
            continue;
        const mjtNum *pa = d->xpos + 3 * a, *pb = d->xpos + 3 * b;
        mjtNum dx = pb[0] - pa[0], dy = pb[1] - pa[1], dz = pb[2] - pa[2];
        if (dx * dx + dy * dy + dz * dz < 1e-8)
            continue;
        mjvGeom *gm = v->scn.geoms + v->scn.ngeom;
        mjv_initGeom(gm, mjGEOM_CAPSULE, NULL, NULL, NULL, rgba);
        mjv_makeConnector(gm, mjGEOM_CAPSULE, 0.055 - 0.004 * i, pa[0], pa[1], pa[2], pb[0], pb[1],
                          pb[2]);
        gm->category = mjCAT_DECOR;
        v->scn.ngeom++;
    }
}

int render_view_frame(render_view *v, const char *text, uint8_t *rgb, mtrl_err *err)
{
    const mjModel *m = env_model(v->env);
    mjData *d = env_data(v->env);
    mjrRect vp = {0, 0, v->width, v->height};
    mjv_updateScene(m, d, &v->opt, &v->pert, &v->cam, mjCAT_ALL, &v->scn);
    if (v->turn)
        for (int c = 0; c < 2; c++) /* both eyes of the stereo pair */
            for (int i = 0; i < 3; i++)
                v->scn.camera[c].up[i] = -v->scn.camera[c].up[i];
    add_arm(v, d);
    mjr_setBuffer(mjFB_OFFSCREEN, &v->con);
    mjr_render(vp, &v->scn, &v->con);
    if (text && *text)
        mjr_overlay(mjFONT_NORMAL, mjGRID_TOPLEFT, vp, text, "", &v->con);
    mjr_readPixels(v->flip, NULL, vp, &v->con);
    int e = mjr_getError();
    if (e)
        return err_set(err, MTRL_ERUNTIME, "OpenGL error 0x%x while rendering %s", (unsigned)e,
                       env_task_name(env_task_index(v->env)));
    size_t row = (size_t)v->width * 3;
    for (int y = 0; y < v->height; y++)
        memcpy(rgb + (size_t)y * row, v->flip + (size_t)(v->height - 1 - y) * row, row);
    return 0;
}

double render_env_fps(const env_sawyer *e)
{
    return 1.0 / (5.0 * env_model(e)->opt.timestep);
}
